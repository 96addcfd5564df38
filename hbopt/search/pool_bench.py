"""``hbopt bench --pool``: whether a discover run keeps every worker busy, and what the driver
and the workers cost.

Every run is the real loop (a study on disk, the optimizer, a pool of workers running turbo
backtests of a built-in on a synthetic market). Per sampler:

- **driver**: the driver process's CPU per trial, and its ceiling: trials/s it feeds a pool whose
  backtests cost nothing (:class:`InstantPool`, answering each trial at once with a real result
  whose objective is seeded noise, so the sampler has something to model);
- **workers**: trials/s on the largest worker count, their busy share (their CPU time over wall
  time x workers) and each worker's RSS over the run, and its growth from 20% of the trials
  (a worker's heap settles after its first trials) to the end.

- **outside backtests**: all the CPU the run spends outside backtests, per trial: the CPU of
  the driver's whole process tree over the run (the driver, its workers and, on Ray, the
  cluster's own processes that a local Ray instance starts under it; counted from when every
  worker is set up and idle to the end, when they are idle again) less the trials' own
  ``cpu_s``, as anyone can check it from the outside (None when a worker was replaced);
- **projection**: from the trials' mean ``cpu_s`` and the driver's CPU per trial, the busy share
  the driver could keep at 16, 48 and 96 workers (:func:`projected_busy`).

Then a scaling table: trials/s and busy share for each worker count, with the first sampler.
Other figures are taken over the steady state, after every worker's first trials and before
the last ones drain.
"""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Callable

import optuna
import psutil

from hbopt.cache.scratch import scratch_market
from hbopt.engine.local_pool import LocalPool
from hbopt.engine.pool import Outcome, Pool, Trial, WorkerSetup, make_pool
from hbopt.search.optimize import Optimizer
from hbopt.search.spec import build_spec, loadable_point

_CONNECTOR, _PAIR = "binance_perpetual", "BTC-USDT"
_RSS_POINTS = 10  # RSS samples reported over a run
_SAMPLE_SECONDS = 0.25  # how often a run is sampled (each sample reads every worker's /proc)


class InstantPool(Pool):
    """A pool whose trials finish the moment they are submitted, each with a copy of ``result``
    holding seeded noise as every objective metric: what the driver costs on its own."""

    def __init__(self, result: dict, metrics, capacity: int):
        self.size, self._result, self._metrics, self._capacity = capacity, result, tuple(metrics), capacity
        self._done: list[Outcome] = []

    def submit(self, trials) -> None:
        for trial in trials:
            noise = random.Random(trial.number)
            results = [{**self._result, **{m: noise.gauss(0, 1) for m in self._metrics}}]
            self._done.append(Outcome(trial, results, worker=0))

    def poll(self, timeout: float = 0.2) -> list[Outcome]:
        done, self._done = self._done, []
        return done

    @property
    def pending(self) -> int:
        return len(self._done)

    @property
    def idle_capacity(self) -> int:
        return max(0, self._capacity - len(self._done))

    def worker_stats(self) -> list[dict]:
        return []

    def close(self) -> None:
        pass


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def _tree_cpu() -> float:
    """CPU seconds of this process and every process under it (those that ended and were waited
    for included)."""
    total = 0.0
    for process in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:  # ended since it was listed
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _study(journal: Path, name: str) -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    return optuna.create_study(study_name=name, storage=storage)


def _reference_result(spec) -> dict:
    """One real backtest of the spec, for :class:`InstantPool` to answer with. It runs in a worker:
    run here, its garbage would slow this process's collector as it never does a real driver's."""
    with LocalPool(1) as worker:
        [outcome] = worker.run([Trial(0, spec.backtests(loadable_point(spec, None)))])
    return outcome.results[0]


def _ceiling(spec, result: dict, trials: int, capacity: int, journal: Path) -> dict:
    """Trials/s and driver CPU per trial against an :class:`InstantPool` answering with ``result``."""
    pool = InstantPool(result, [o.metric for o in spec.objectives], capacity)
    began, cpu = time.monotonic(), _own_cpu()
    Optimizer(_study(journal, "ceiling"), spec, pool).run(trials)
    wall, cpu = time.monotonic() - began, _own_cpu() - cpu
    return {"ceiling_trials_per_s": round(trials / wall, 1), "ceiling_driver_ms": round(1000 * cpu / trials, 2)}


def _measure(spec, workers: int, trials: int, journal: Path, backend: str = "local") -> dict:
    """A real run on ``workers`` workers of ``backend``, measured over its steady state."""
    samples = []  # (time, trials done, driver CPU s, worker CPU s, worker RSS MB list)
    warm, tail = 2 * workers, trials - 2 * workers
    with make_pool(backend, workers, WorkerSetup()) as pool:
        def sample(progress):
            last = samples[-1] if samples else None
            edge = last is not None and any(last[1] < mark <= progress.done for mark in (warm, tail, trials))
            if last is not None and not edge and time.monotonic() - last[0] < _SAMPLE_SECONDS:
                return
            stats = pool.worker_stats()
            samples.append((time.monotonic(), progress.done, _own_cpu(), sum(s["cpu_s"] for s in stats),
                            [s["rss_mb"] for s in stats]))
        while not all(s["ready"] for s in pool.worker_stats()) or len(pool.worker_stats()) < workers:
            pool.poll(0.1)  # every worker set up and idle: its CPU from here on is the run's
        idle = _tree_cpu()
        began = time.monotonic()
        run = Optimizer(_study(journal, f"bench_{workers}"), spec, pool).run(trials, sample)
        wall = time.monotonic() - began
        # every process's CPU over the run (the workers idle at both ends), less the trials' own
        outside = _tree_cpu() - idle - run.backtest_cpu_seconds
        replaced = pool.replaced
    steady = [s for s in samples if warm <= s[1] <= tail]
    if len(steady) < 2:  # a run too short for a steady state: the whole of it
        steady = [samples[0], samples[-1]]
    (t0, d0, p0, w0, _), (t1, d1, p1, w1, _) = steady[0], steady[-1]
    span = t1 - t0
    rss_from = next(s[4] for s in samples if s[1] >= max(warm, trials // 5))
    rss_to = samples[-1][4]
    marks = [next(s for s in samples if s[1] >= trials * k / _RSS_POINTS) for k in range(1, _RSS_POINTS + 1)]
    return {
        "workers": workers, "trials": trials, "wall_s": round(wall, 2), "replaced": replaced,
        "trials_per_s": round((d1 - d0) / span, 2),
        "driver_ms": round(1000 * (p1 - p0) / (d1 - d0), 2),
        "outside_backtests_ms": round(1000 * outside / run.done, 2) if not replaced else None,
        "backtest_ms": round(1000 * run.backtest_cpu_seconds / run.done, 2),
        "projected_busy_pct": projected_busy(run.backtest_cpu_seconds / run.done, (p1 - p0) / (d1 - d0)),
        "busy_pct": round(100 * (w1 - w0) / (span * workers), 1),
        "rss_growth_pct": round(max(100 * (b - a) / a for a, b in zip(rss_from, rss_to)), 1),
        "rss_over_time": [{"trial": s[1], "rss_mb": [round(r) for r in s[4]]} for s in marks],
    }


PROJECTED_WORKERS = (16, 48, 96)


def projected_busy(backtest_s: float, driver_s: float) -> dict[int, float]:
    """The workers' busy share (%) a driver spending ``driver_s`` of CPU per trial, one trial after
    another, can keep at :data:`PROJECTED_WORKERS` workers whose trials take ``backtest_s`` each:
    it feeds ``1 / driver_s`` trials a second, they take ``workers / backtest_s``."""
    return {w: round(min(100.0, 100 * backtest_s / (driver_s * w)), 1) if driver_s > 0 else 100.0
            for w in PROJECTED_WORKERS}


def run_pool_bench(worker_counts: list[int], trials: int = 1000, days: float = 90, controller: str = "bollinger",
                   samplers=("random", "tpe"), seed: int = 7, backend: str = "local",
                   progress: Callable[[str], None] = lambda message: None) -> dict:
    """``{"samplers": [row per sampler], "scaling": [row per worker count]}`` of runs on
    ``backend``'s workers; ``scaling`` in a row is its throughput over the first count's."""
    with scratch_market(_CONNECTOR, {_PAIR: "mixed"}, days + 4, seed) as scratch:
        def spec_for(sampler):
            return build_spec({"controller": controller, "connector": _CONNECTOR, "pairs": [_PAIR], "sampler": sampler,
                               "engine": "turbo", "seed": seed, "window": {"days": days}}, {}, None,
                              lambda connector: [_PAIR])
        most = max(worker_counts)
        rows, by_count = [], {}
        result = _reference_result(spec_for(samplers[0]))  # the sampler does not change the backtest
        for sampler in samplers:
            progress(f"{sampler}: the driver alone, {trials} trials")
            row = {"sampler": sampler,
                   **_ceiling(spec_for(sampler), result, trials, 2 * most, scratch / f"ceiling_{sampler}.log")}
            progress(f"{sampler}: {most} worker(s), {trials} trials of {days:g} days")
            row.update(_measure(spec_for(sampler), most, trials, scratch / f"{sampler}.log", backend))
            rows.append(row)
        by_count[most] = rows[0]
        for workers in sorted(set(worker_counts) - {most}):
            progress(f"{samplers[0]}: {workers} worker(s), {trials} trials of {days:g} days")
            by_count[workers] = _measure(spec_for(samplers[0]), workers, trials, scratch / f"scaling_{workers}.log",
                                         backend)
    first = by_count[min(worker_counts)]["trials_per_s"]
    scaling = [{"workers": w, "trials_per_s": r["trials_per_s"], "scaling": round(r["trials_per_s"] / first, 2),
                "busy_pct": r["busy_pct"], "driver_ms": r["driver_ms"]} for w, r in sorted(by_count.items())]
    return {"controller": controller, "days": days, "trials": trials, "backend": backend, "samplers": rows,
            "scaling": scaling}
