from hbopt.engine.pool import BacktestPool, Trial, WorkerSetup


def test_workers_over_the_memory_limit_are_recycled_between_batches_and_no_trial_is_lost():
    trials = [Trial(n, ({"config": {"controller_name": "nope"}, "days": 1},)) for n in range(3)]
    with BacktestPool(1, WorkerSetup(max_rss_mb=1), batch_size=1) as pool:  # every worker is over 1 MB
        pool.submit(trials)
        outcomes = []
        while pool.pending:
            outcomes += pool.poll(1.0)
        assert sorted(o.trial.number for o in outcomes) == [0, 1, 2]
        assert all(o.error.startswith("ConfigError: unknown controller 'nope'") for o in outcomes)
        assert pool.replaced >= 2
