"""``hbopt bench --store``: whether the store stays fast as it grows to hundreds of pairs.

Two throwaway homes side by side: one holding a single pair, one holding ``pairs`` pairs (the
same pair plus copies of its store files under other names), each ``days`` of 1m candles and
funding rates, mirrored. Measured, alternating between the homes so the machine's noise falls on
both alike:

- a refresh of the large mirror that finds nothing to do (the median of several);
- a ``days_per_backtest`` backtest of one pair as ``hbopt backtest`` runs it (its pair's files
  refreshed first), in each home, each in a fork of this process warmed up there, and the ratio;
- ``discover --pairs ALL`` over the large store, ``trials`` random trials a pair, one pool for
  every pair's study: its wall time less the trials' own (their ``seconds`` over the workers),
  per pair; and the workers' peak memory over it, and how many were replaced for passing
  ``--max-worker-mb``.
"""
from __future__ import annotations

import functools
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

from hbopt.cache import funding, synth
from hbopt.cache.mirror import Mirror
from hbopt.cache.scratch import pointed_at
from hbopt.cache.store import CandleKey, CandleStore

CONNECTOR, PAIR = "binance_perpetual", "BTC-USDT"
BACKTEST = {"controller_name": "bollinger", "connector_name": CONNECTOR, "trading_pair": PAIR,
            "total_amount_quote": 1000, "bb_length": 100, "stop_loss": 0.02}


def _fill(folder: Path, pairs: list[str], days: float, seed: int) -> dict:
    """Store ``days`` of candles and funding rates for ``pairs`` in ``folder``'s home (the first
    pair generated, the others copies of its files) and mirror them; what it took."""
    with pointed_at(folder):
        store = CandleStore()
        candles = synth.generate(days, "1m", seed=seed)
        keys = [CandleKey(CONNECTOR, pairs[0], "1m"), CandleKey(CONNECTOR, pairs[0], funding.FUNDING)]
        store.add(keys[0], candles, {"source": "synth", "synthetic": True})
        store.add(keys[1], funding.synthesise(candles, seed, "mixed"), {"source": "synth", "synthetic": True})
        for pair in pairs[1:]:
            for key in keys:
                shutil.copyfile(store.path(key), store.path(CandleKey(CONNECTOR, pair, key.interval)))
        began = time.perf_counter()
        Mirror.default().refresh()
        return {"rows": len(candles), "store_mb": _megabytes(store.root), "mirror_mb": _megabytes(Mirror.default().root),
                "first_refresh_s": round(time.perf_counter() - began, 2)}


def _megabytes(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 2**20, 1)


def _backtest(days: float) -> dict:
    from hbopt.engine.backtest import backtest

    backtest(BACKTEST, days=days)
    return {}


def run_store_bench(pairs: int = 100, days: float = 365, days_per_backtest: float = 7, trials: int = 2,
                    rounds: int = 7, workers: int | None = None, seed: int = 7,
                    progress: Callable[[str], None] = lambda message: None) -> dict:
    """The figures the module describes, as a dict."""
    from hbopt.api import DEFAULT_MAX_WORKER_MB, discover
    from hbopt.engine.bench import measure_in_fork
    from hbopt.engine.local_pool import usable_cores

    names = [PAIR] + [f"C{n:03d}-USDT" for n in range(1, pairs)]
    workers = workers or usable_cores()
    with tempfile.TemporaryDirectory(prefix="hbopt-store-bench-") as scratch:
        one, many = Path(scratch) / "one", Path(scratch) / "many"
        progress(f"storing and mirroring {days:g} days of 1m candles for 1 pair")
        small = _fill(one, names[:1], days, seed)
        progress(f"storing and mirroring {days:g} days of 1m candles for {pairs} pairs")
        large = _fill(many, names, days, seed)
        refreshes, times = [], {"one": [], "many": []}
        for n in range(rounds):
            progress(f"round {n + 1} of {rounds}: no-op refresh and a {days_per_backtest:g}-day backtest in each store")
            for label, folder in (("one", one), ("many", many)) if n % 2 else (("many", many), ("one", one)):
                with pointed_at(folder):  # each backtest in a fork of this process, warmed up in that store
                    run = functools.partial(_backtest, days_per_backtest)
                    times[label].append(measure_in_fork(run, run)[1] / 1000)
                    if label == "many":
                        began = time.perf_counter()
                        Mirror.default().refresh()
                        refreshes.append(time.perf_counter() - began)
        progress(f"discover --pairs ALL over {pairs} pairs, {trials} trials each, {workers} workers")
        memory = {"peak_rss_mb": 0.0, "replaced": 0, "sampled": 0.0}

        def sample(name, progress, pool):  # the workers' memory, twice a second
            if time.monotonic() - memory["sampled"] > 0.5:
                memory["sampled"] = time.monotonic()
                rss = [w["rss_mb"] for w in pool.worker_stats()]
                memory.update(peak_rss_mb=max([memory["peak_rss_mb"], *rss]), replaced=pool.replaced)
        with pointed_at(many):
            began = time.perf_counter()
            runs = discover(controller="bollinger", connector=CONNECTOR, pairs="ALL", days=days_per_backtest,
                            n_trials=trials, sampler="random", seed=seed, holdout=0, validate=False, report=False,
                            workers=workers, study="store-bench", on_progress=sample)
            wall = time.perf_counter() - began
            trial_seconds = sum(t.user_attrs.get("seconds", 0.0) for run in runs for t in run.study.get_trials())
    one_s, many_s = statistics.median(times["one"]), statistics.median(times["many"])
    overhead = wall - trial_seconds / workers
    return {
        "pairs": pairs, "days": days, "rows_per_pair": small["rows"], "stores": {"one": small, "many": large},
        "noop_refresh_s": round(statistics.median(refreshes), 4),
        "backtest_days": days_per_backtest, "backtest_one_s": round(one_s, 3), "backtest_many_s": round(many_s, 3),
        "backtest_ratio": round(many_s / one_s, 3),
        "discover": {"studies": len(runs), "trials": trials * len(runs), "workers": workers, "wall_s": round(wall, 1),
                     "trial_s": round(trial_seconds, 1), "overhead_s": round(overhead, 1),
                     "overhead_per_pair_s": round(overhead / len(runs), 3),
                     "worker_peak_rss_mb": round(memory["peak_rss_mb"]), "workers_replaced": memory["replaced"],
                     "max_worker_mb": DEFAULT_MAX_WORKER_MB},
    }
