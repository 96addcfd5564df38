import os
import signal
import time

import psutil

from hbopt.engine.local_pool import LocalPool
from hbopt.engine.pool import Trial, WorkerSetup
from tests.conftest import CONNECTOR, PAIR


def test_workers_over_the_memory_limit_are_recycled_between_batches_and_no_trial_is_lost():
    trials = [Trial(n, ({"config": {"controller_name": "nope"}, "days": 1},)) for n in range(3)]
    with LocalPool(1, WorkerSetup(max_rss_mb=1), batch_size=1) as pool:  # every worker is over 1 MB
        pool.submit(trials)
        outcomes = []
        while pool.pending:
            outcomes += pool.poll(1.0)
        assert sorted(o.trial.number for o in outcomes) == [0, 1, 2]
        assert all(o.error.startswith("ConfigError: unknown controller 'nope'") for o in outcomes)
        assert pool.replaced >= 2


def test_a_worker_found_dead_when_a_batch_is_sent_is_replaced_and_no_trial_is_lost(market):
    with LocalPool(1, WorkerSetup()) as pool:
        while not any(s["ready"] for s in pool.worker_stats()):
            pool.poll(0.2)
        [dead] = pool.worker_stats()
        os.kill(dead["pid"], signal.SIGKILL)
        while psutil.Process(dead["pid"]).status() != psutil.STATUS_ZOMBIE:  # gone, not yet noticed
            time.sleep(0.05)
        trials = [Trial(n, ({"config": {"controller_name": "bollinger", "connector_name": CONNECTOR,
                                        "trading_pair": PAIR}, "days": 1, "engine": "turbo"},)) for n in range(3)]
        pool.submit(trials)  # its pipe is broken: the send fails
        outcomes = []
        while pool.pending:
            outcomes += pool.poll(1.0)
        assert sorted(o.trial.number for o in outcomes) == [0, 1, 2]
        assert all(o.error is None and o.results[0]["total_executors"] >= 0 for o in outcomes)
        assert pool.replaced == 1 and dead["pid"] not in {o.worker for o in outcomes}
