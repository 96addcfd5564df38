"""``hbopt bench --search``: whether hbopt's batched TPE finds as good a best as plain TPE.

Both samplers run the same sequential loop (ask, evaluate, tell) from the same seeds: optuna's
``TPESampler(multivariate=True)`` refitting for every trial, and
:class:`~hbopt.search.samplers.BatchedTPESampler` as discover uses it (constant liar, a batch per
fit). Two problems: an 8-dimensional Styblinski-Tang function on a space of integers and stepped
floats (minimised; global minimum about -313), and a real turbo backtest study (a built-in's
default space on a synthetic mean-reverting market, Sharpe ratio maximised). Reported per
problem and sampler: the mean best after N trials with its standard error over the seeds, and
the driver's CPU per trial.
"""
from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Callable

import numpy as np
import optuna

from hbopt.cache.scratch import scratch_market
from hbopt.search.samplers import BatchedTPESampler

SAMPLERS = ("plain TPE", "batched TPE")
_CONNECTOR, _PAIR = "binance_perpetual", "BTC-USDT"


def _sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "plain TPE":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    return BatchedTPESampler(seed=seed, constant_liar=True, multivariate=True)


def _styblinski_tang():
    def propose(trial: optuna.Trial) -> list:
        return [trial.suggest_float(f"x{i}", -5, 5, step=0.05) if i % 2 else trial.suggest_int(f"x{i}", -5, 5)
                for i in range(8)]

    def evaluate(x: list) -> float:
        x = np.array(x)
        return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))
    return propose, evaluate, "minimize"


def _backtest_study(controller: str, days: float):
    from hbopt.cache.mirror import Mirror
    from hbopt.cache.windows import CandleWindows
    from hbopt.engine.backtest import backtest
    from hbopt.search.space import suggest
    from hbopt.search.spec import build_spec

    spec = build_spec({"controller": controller, "connector": _CONNECTOR, "pairs": [_PAIR], "engine": "turbo",
                       "window": {"days": days}}, {}, None, lambda connector: [_PAIR])
    candles = CandleWindows(Mirror.default().load, max_bytes=2**28)

    def evaluate(params: dict) -> float:
        return spec.score([backtest(**kwargs, candles=candles) for kwargs in spec.backtests(params)])[0]
    return lambda trial: suggest(list(spec.space), trial), evaluate, spec.objectives[0].direction


def _search(problem: str, sampler: str, seed: int, trials: int, controller: str, days: float) -> tuple[float, float]:
    """The best value after ``trials`` and the sampler's CPU ms per trial (ask, suggest, tell)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    propose, evaluate, direction = _styblinski_tang() if problem == "function" else _backtest_study(controller, days)
    study = optuna.create_study(sampler=_sampler(sampler, seed), direction=direction)
    driver = 0.0
    for _ in range(trials):
        began = time.thread_time()
        trial = study.ask()
        point = propose(trial)  # optuna samples here, on the first suggest
        driver += time.thread_time() - began
        value = evaluate(point)
        began = time.thread_time()
        study.tell(trial, value)
        driver += time.thread_time() - began
    return study.best_value, 1000 * driver / trials


def run_search_bench(function_trials: int = 300, function_seeds: int = 30, backtest_trials: int = 150,
                     backtest_seeds: int = 4, controller: str = "bollinger", days: float = 90, workers: int = 2,
                     progress: Callable[[str], None] = lambda message: None) -> list[dict]:
    """One row per problem and sampler: ``best_mean``, ``best_se``, ``driver_ms``."""
    jobs = [("function", s, seed, function_trials) for s in SAMPLERS for seed in range(function_seeds)]
    jobs += [("backtest", s, seed, backtest_trials) for s in SAMPLERS for seed in range(backtest_seeds)]
    with scratch_market(_CONNECTOR, {_PAIR: "revert"}, days + 4, seed=1):
        progress(f"{len(jobs)} searches on {workers} processes")
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as executor:
            found = list(executor.map(_search, *zip(*jobs), [controller] * len(jobs), [days] * len(jobs)))
    rows = []
    for problem, trials, seeds in (("function", function_trials, function_seeds),
                                   ("backtest", backtest_trials, backtest_seeds)):
        for sampler in SAMPLERS:
            runs = [f for job, f in zip(jobs, found) if job[:2] == (problem, sampler)]
            if not runs:
                continue
            best, driver = np.array([r[0] for r in runs]), np.array([r[1] for r in runs])
            rows.append({"problem": "Styblinski-Tang 8-D (minimise)" if problem == "function"
                         else f"{controller} {days:g} days, Sharpe (maximise)", "sampler": sampler, "trials": trials,
                         "seeds": seeds, "best_mean": round(float(best.mean()), 3),
                         "best_se": round(float(best.std(ddof=1) / np.sqrt(len(best))) if len(best) > 1 else 0.0, 3),
                         "driver_ms": round(float(driver.mean()), 2)})
    return rows
