import os
import signal
import time
from types import SimpleNamespace

import psutil

from hbopt.engine import local_pool
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


def test_the_default_worker_count_fits_the_memory_and_says_so_when_memory_is_the_limit(monkeypatch):
    monkeypatch.setattr(local_pool, "usable_cores", lambda: 16)
    monkeypatch.setattr(psutil, "virtual_memory",
                        lambda: SimpleNamespace(available=(local_pool.DRIVER_MB + 4.5 * 1024) * 2**20))
    workers, note = local_pool.default_workers(1024)
    assert workers == 4
    assert note == ("4 workers, not one per core (16): 4.5 GiB of memory is available and each worker may grow to "
                    "--max-worker-mb 1024 MB")
    assert local_pool.default_workers(256) == (16, None)
