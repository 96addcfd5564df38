"""``hbopt bench``: the stock and turbo engines side by side on the same configs and data, under
one cost model, and turbo under the other model beside them."""
from __future__ import annotations

import functools
import multiprocessing
import threading
import time
from typing import Callable

import psutil

from hbopt.cache import synth
from hbopt.cache.windows import CandleWindows, resampling_source
from hbopt.engine.backtest import backtest
from hbopt.engine.exchange.costs import DEFAULT_MODEL, MODELS, Costs
from hbopt.engine.parity import differences

_PAIR = {"connector_name": "binance_perpetual", "trading_pair": "BTC-USDT", "total_amount_quote": 1000}
CONFIGS = {
    "bollinger": {"controller_name": "bollinger", **_PAIR, "bb_length": 100, "bb_std": 2.0},
    "ma_cross": {"controller_name": "ma_cross", **_PAIR, "fast_ma": 6, "slow_ma": 24},
    "pmm": {"controller_name": "pmm", **_PAIR, "buy_spreads": "0.002,0.006", "sell_spreads": "0.002,0.006",
            "take_profit": 0.004, "stop_loss": 0.01, "time_limit": 3600, "executor_refresh_time": 300},
    "grid": {"controller_name": "grid", **_PAIR, "grid_depth": 0.02, "grid_top": 0.005, "limit_depth": 0.01,
             "take_profit": 0.004, "time_limit": 86400},
    "market_maker": {"controller_name": "market_maker", **_PAIR, "buy_spreads": "0.001,0.003",
                     "sell_spreads": "0.001,0.003", "order_refresh_time": 300, "max_inventory_quote": 500},
}
_WARMUP_DAYS = 4  # data before the window, for indicator warm-up


class PeakMemory:
    """Samples this process's RSS in a thread; ``peak_mb`` is the rise over the starting RSS."""

    def __init__(self, interval: float = 0.005):
        self._process, self._interval = psutil.Process(), interval
        self._stop = threading.Event()

    def __enter__(self):
        self._base = self._peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return (self._peak - self._base) / 2**20


def _measure_in_child(warm_up: Callable[[], dict], run: Callable[[], dict], connection) -> None:
    warm_up()  # the first touches of copied-on-write memory and caches are not the engine's cost
    with PeakMemory() as memory:
        began = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - began
    connection.send((result, elapsed * 1000, memory.peak_mb))
    connection.close()


def measure_in_fork(warm_up: Callable[[], dict], run: Callable[[], dict]) -> tuple[dict, float, float]:
    """(result, wall ms, peak RSS rise in MB) of ``run()``, run after ``warm_up()`` in a forked
    copy of this process, so that each engine starts from the same memory and leaves nothing
    behind for the next."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_measure_in_child, args=(warm_up, run, send))
    child.start()
    send.close()
    try:
        outcome = receive.recv()
    except EOFError:
        raise RuntimeError(f"the benchmark process died (exit code {child.join() or child.exitcode})") from None
    child.join()
    return outcome


def run_bench(days: float = 90, controllers: list[str] | None = None, seed: int = 7, model: str = DEFAULT_MODEL,
              progress: Callable[[str], None] = lambda message: None) -> list[dict]:
    """Backtest each built-in's bench config with both engines under the ``model`` costs, and with
    turbo under the other model, on one synthetic market, each backtest in a fork of this
    warmed-up process after a short warm-up run of the same engine. Returns one row per
    controller: ms per backtest, speedup, peak RSS rise and the parity verdict under ``model``,
    and turbo's ms under each model with the ratio of the exchange's to Hummingbot's."""
    other = next(m for m in MODELS if m != model)
    minutes = synth.generate(days + _WARMUP_DAYS, "1m", seed=seed).to_numpy()
    candles = CandleWindows(resampling_source(minutes), max_bytes=1 << 30)

    rows = []
    for name in controllers or list(CONFIGS):
        config = CONFIGS[name]
        progress(f"{name}: warming up")
        runs = {"turbo": ("turbo", model), "stock": ("stock", model), "other": ("turbo", other)}
        warm = {run: functools.partial(backtest, config, days=min(days, 4), engine=engine, candles=candles,
                                       costs=Costs(cost_model)) for run, (engine, cost_model) in runs.items()}
        warm["turbo"](), warm["other"]()  # imports and JIT compilation, inherited by the forks
        measured = {}
        for run, (engine, cost_model) in runs.items():
            progress(f"{name}: {engine} ({cost_model} costs), {days:g} days")
            measured[run] = measure_in_fork(warm[run], functools.partial(backtest, config, days=days, engine=engine,
                                                                  candles=candles, ledger=True,
                                                                  costs=Costs(cost_model)))
        (turbo, turbo_ms, turbo_mb), (stock, stock_ms, stock_mb) = measured["turbo"], measured["stock"]
        turbo_of = {model: (turbo, round(turbo_ms, 1)), other: (measured["other"][0], round(measured["other"][1], 1))}
        diffs = differences(stock, turbo)
        rows.append({
            "controller": name, "days": days, "costs": model, "ticks": stock["timings"]["ticks"],
            "executors": stock["total_executors"], "stock_ms": round(stock_ms, 1), "turbo_ms": round(turbo_ms, 1),
            "speedup": round(stock_ms / turbo_ms, 1), "stock_peak_mb": round(stock_mb, 1),
            "turbo_peak_mb": round(turbo_mb, 1), "parity": not diffs, "differences": diffs,
            "turbo_fallback": turbo["turbo_fallback"],
            **{f"turbo_{m}_ms": ms for m, (_, ms) in turbo_of.items()},
            # of the figures as shown, so that a reader's division gives it
            "exchange_ratio": round(turbo_of["exchange"][1] / turbo_of["hummingbot"][1], 2),
            "fallbacks": {m: result["turbo_fallback"] for m, (result, _) in turbo_of.items()},
        })
    return rows
