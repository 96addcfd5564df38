"""One offline backtest with Hummingbot's stock ``BacktestingEngineBase.run_backtesting``."""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from importlib.metadata import version

from hbopt import __version__
from hbopt.cache.candles import interval_seconds
from hbopt.engine.controllers import config_to_dict, load_config
from hbopt.cache.windows import CandleSource, CandleWindows
from hbopt.engine.market_data import fill_provider, required_feeds, utc, window_for_days
from hbopt.engine.offline import offline
from hbopt.engine.results import json_safe, ledger_row
from hbopt.errors import ConfigError, DataError

ENGINES = ("stock", "turbo")
DEFAULT_TRADE_COST = 0.0006


def _default_candles() -> CandleWindows:
    from hbopt.cache.mirror import Mirror

    mirror = Mirror.default()
    mirror.refresh()  # copies only what changed; a no-op when the mirror is fresh
    return CandleWindows(mirror.load)


def backtest(config: dict, start: int | None = None, end: int | None = None, resolution: str = "1m",
             trade_cost: float = DEFAULT_TRADE_COST, engine: str = "stock", *, days: float | None = None,
             candles: CandleSource | CandleWindows | None = None, user_module: str | None = None,
             ledger: bool = False) -> dict:
    """Backtest a controller config offline and return a JSON-safe result.

    The window is ``[start, end]`` (epoch seconds) or, with ``days``, the last ``days`` days the
    data covers. Candles come from ``candles``, a ``(connector, pair, interval) -> array`` source
    or a :class:`CandleWindows` (default: the mirror, refreshed if stale). The
    result holds Hummingbot's ``summarize_results`` metrics plus ``engine``, ``config`` (the
    resolved config), ``start``, ``end``, ``resolution``, ``trade_cost``, ``timings``,
    ``warnings`` and ``versions``; the turbo engine adds ``turbo_fallback``: why it ran the
    stock engine instead, or ``None``; with ``ledger`` also ``executors``, one record per executor.
    Passing ``config``, ``start``, ``end``, ``resolution`` and ``trade_cost`` back in reproduces it.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if interval_seconds(resolution) < 60:
        raise ConfigError("the backtest resolution must be 1m or coarser")
    if (days is None) == (start is None or end is None):
        raise ConfigError("give either days or both start and end")
    if days is None and start >= end:
        raise ConfigError(f"the window start {utc(start)} is not before its end {utc(end)}")
    began = time.perf_counter()
    if candles is None:
        candles = _default_candles()
    elif not isinstance(candles, CandleWindows):
        candles = CandleWindows(candles)
    fallback = None
    with offline():
        controller_config = load_config(config, user_module)
        run = functools.partial(_run, controller_config=controller_config, start=start, end=end, days=days,
                                resolution=resolution, trade_cost=trade_cost, candles=candles)
        if engine == "turbo":
            from hbopt.engine.turbo import TurboBacktestingEngine, Unsupported
            try:
                outcome = asyncio.run(run(TurboBacktestingEngine))
            except Unsupported as exc:
                fallback = str(exc)
        if engine == "stock" or fallback:
            from hummingbot.strategy_v2.backtesting.backtesting_engine_base import BacktestingEngineBase
            outcome = asyncio.run(run(BacktestingEngineBase))
    start, end, output, warnings, run_s = outcome
    ticks = len(output["processed_data"].get("features", ()))
    result = json_safe(output["results"])
    result.update({
        "engine": engine,
        **({"turbo_fallback": fallback} if engine == "turbo" else {}),
        "config": config_to_dict(controller_config),
        "start": int(start), "end": int(end), "resolution": resolution, "trade_cost": trade_cost,
        "timings": {"run_s": round(run_s, 4), "total_s": round(time.perf_counter() - began, 4), "ticks": ticks},
        "warnings": warnings,
        "versions": {"hbopt": __version__, "hummingbot": version("hummingbot")},
    })
    if ledger:
        result["executors"] = [ledger_row(info) for info in output["executors"]]
    return result


async def _run(engine_class, controller_config, start, end, days, resolution, trade_cost, candles):
    """Run one engine (Hummingbot's ``BacktestingEngineBase`` or a drop-in subclass) on provided data."""
    logging.getLogger("hummingbot").setLevel(logging.WARNING)
    engine = engine_class()
    provider = engine.backtesting_data_provider
    probe = controller_config.get_controller_class()(config=controller_config, market_data_provider=provider,
                                                     actions_queue=None)
    feeds = required_feeds(probe, resolution)
    if days is not None:
        start, end = window_for_days(feeds, candles, days)
    warnings = fill_provider(provider, controller_config, feeds, candles, start, end)
    began = time.perf_counter()
    try:
        output = await engine.run_backtesting(controller_config, start, end, resolution, trade_cost)
    except IndexError:
        if engine.controller is None or not engine.controller.processed_data.get("features", ()).empty:
            raise
        raise DataError(f"no tick between {utc(start)} and {utc(end)} has the controller's indicators ready: "
                        "Hummingbot's engine shows a controller only the candles inside the window, so "
                        "their warm-up must fit in it; use a longer window") from None
    return start, end, output, warnings, time.perf_counter() - began
