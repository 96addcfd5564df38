"""``hbopt bench --pool``: how well a discover run keeps its workers busy.

Runs the same seeded random search (the real loop: study on disk, pool, turbo backtests of a
built-in on a synthetic market) with each worker count and measures, over the steady state
(after every worker's first trials, before the last ones drain):
throughput, CPU time of the whole process tree / (wall x workers), dispatch and result overhead
(1 - backtest seconds / worker seconds), and each worker's RSS growth from the end of warm-up
(the first fifth of the trials: a worker's heap settles at the size of the largest trials it
has met) to the end.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import optuna
import psutil

from hbopt.cache import synth
from hbopt.cache.mirror import Mirror
from hbopt.cache.store import CandleKey, CandleStore
from hbopt.engine.local_pool import LocalPool
from hbopt.engine.pool import Pool, WorkerSetup
from hbopt.search.optimize import Optimizer
from hbopt.search.spec import build_spec

_CONNECTOR, _PAIR = "binance_perpetual", "BTC-USDT"


def _cpu(pool: Pool) -> tuple[float, float]:
    """CPU seconds of this (parent) process and of the live workers."""
    own = psutil.Process().cpu_times()
    return own.user + own.system, sum(s["cpu_s"] for s in pool.worker_stats())


def _measure(spec, workers: int, trials: int, journal: Path) -> dict:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.create_study(study_name=f"bench_{workers}", storage=storage)
    samples = []  # (time, trials done, backtest seconds, tree CPU seconds, worker RSS MB list)
    with LocalPool(workers, WorkerSetup()) as pool:
        def sample(progress):
            samples.append((time.monotonic(), progress.done, progress.backtest_seconds, _cpu(pool),
                            [s["rss_mb"] for s in pool.worker_stats()]))
        began = time.monotonic()
        Optimizer(study, spec, pool).run(trials, sample)
        wall = time.monotonic() - began
        failed = sum(1 for t in study.get_trials(deepcopy=False) if t.state.name == "FAIL")
    warm, tail = 2 * workers, trials - 2 * workers
    steady = [s for s in samples if warm <= s[1] <= tail]
    (t0, d0, b0, c0, _), (t1, d1, b1, c1, _) = steady[0], steady[-1]
    rss0 = next(s[4] for s in samples if s[1] >= max(warm, trials // 5))
    rss1 = samples[-1][4]
    span, backtest_s = t1 - t0, b1 - b0
    return {
        "workers": workers, "trials": trials, "failed": failed, "wall_s": round(wall, 2),
        "steady_trials": d1 - d0, "trials_per_s": round((d1 - d0) / span, 3),
        "cpu_busy_pct": round(100 * (sum(c1) - sum(c0)) / (span * workers), 1),
        "parent_cpu_pct": round(100 * (c1[0] - c0[0]) / span, 1),
        "overhead_pct": round(100 * (1 - backtest_s / (span * workers)), 2),
        "ms_per_trial": round(1000 * backtest_s / max(1, d1 - d0), 1),
        "rss_growth_pct": round(max(100 * (b - a) / a for a, b in zip(rss0, rss1)), 1),
        "rss_mb": [round(r) for r in rss1],
    }


def run_pool_bench(worker_counts: list[int], trials: int = 200, days: float = 90, controller: str = "bollinger",
                   seed: int = 7, progress: Callable[[str], None] = lambda message: None) -> list[dict]:
    """One row per worker count; ``scaling`` is throughput relative to the first count."""
    with tempfile.TemporaryDirectory(prefix="hbopt-bench-") as scratch:
        saved = {k: os.environ.get(k) for k in ("HBOPT_HOME", "HBOPT_MIRROR_DIR")}
        os.environ.update(HBOPT_HOME=str(Path(scratch) / "home"), HBOPT_MIRROR_DIR=str(Path(scratch) / "mirror"))
        try:
            CandleStore().add(CandleKey(_CONNECTOR, _PAIR, "1m"), synth.generate(days + 4, "1m", seed=seed),
                              {"synthetic": True})
            Mirror.default().refresh()
            spec = build_spec({"controller": controller, "connector": _CONNECTOR, "pairs": [_PAIR],
                               "sampler": "random", "engine": "turbo", "seed": seed, "window": {"days": days}},
                              {}, None, lambda connector: [_PAIR])
            rows = []
            for workers in worker_counts:
                progress(f"{workers} worker(s), {trials} trials of {days:g} days")
                rows.append(_measure(spec, workers, trials, Path(scratch) / f"journal_{workers}.log"))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    for row in rows:
        row["scaling"] = round(row["trials_per_s"] / rows[0]["trials_per_s"], 2)
    return rows
