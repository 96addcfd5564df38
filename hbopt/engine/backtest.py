"""One offline backtest with Hummingbot's engine (:mod:`hbopt.engine.stock`) or the turbo engine."""
from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from importlib.metadata import version

from hbopt import __version__
from hbopt.cache.candles import interval_seconds
from hbopt.cache.windows import CandleSource, CandleWindows
from hbopt.engine.controllers import config_to_dict, load_config
from hbopt.engine.account import Ticks, account_of
from hbopt.engine.exchange.costs import Costs, connector_costs
from hbopt.engine.diagnostics import account_warnings, config_warnings, feature_timing_warning, outcome_warnings
from hbopt.engine.failures import blame
from hbopt.engine.market_data import (check_coverage, fill_provider, funding_rates, required_feeds, utc,
                                      window_for_days)
from hbopt.engine.offline import offline
from hbopt.engine.results import json_safe, ledger_row
from hbopt.errors import ConfigError, ControllerError, DataError, HboptError

ENGINES = ("stock", "turbo")
FEATURE_TIMINGS = ("close", "open")  # see hbopt.engine.stock
DEFAULT_TRADE_COST = 0.0006
MAX_DAYS = 36_500


def mirrored_candles() -> CandleWindows:
    """The mirror's candles, the whole mirror refreshed first: a run's candles, taken once per
    command and passed to every :func:`data_window`, :func:`backtest` and the pool it starts
    (whose workers read the mirror), so the mirror is refreshed once, not once a call."""
    from hbopt.cache.mirror import Mirror

    mirror = Mirror.default()
    mirror.refresh()  # copies only what changed; a no-op when the mirror is fresh
    return CandleWindows(mirror.load)


def read_candles() -> CandleWindows:
    """The mirror's candles, each pair's files refreshed when it is first read: what a lone
    :func:`backtest` or :func:`data_window` reads unless given ``candles``."""
    from hbopt.cache.mirror import Mirror

    return CandleWindows(Mirror.default().load_fresh)


def check_settings(engine: str, resolution: str, trade_cost: float, feature_timing: str,
                   days: float | None = None) -> None:
    """A :class:`ConfigError` naming the first of these :func:`backtest` arguments it would refuse
    (a study checks its settings with it before anything runs)."""
    for setting, value, choices in (("engine", engine, ENGINES), ("feature_timing", feature_timing, FEATURE_TIMINGS)):
        if value not in choices:
            raise ConfigError(f"{setting} must be one of {', '.join(choices)}, not {value!r}")
    try:
        tick = interval_seconds(resolution)
    except ConfigError as exc:
        raise ConfigError(f"resolution: {exc}") from None
    if tick < 60:
        raise ConfigError(f"resolution must be 1m or longer, not {resolution!r}")
    if not _is_finite_number(trade_cost):
        raise ConfigError(f"trade_cost must be a finite number, not {trade_cost!r}")
    if not 0 <= trade_cost < 1:
        raise ConfigError(f"trade_cost must be a fraction >= 0 and < 1, not {trade_cost:g}")
    if days is not None and not _is_finite_number(days):
        raise ConfigError(f"days must be a finite number, not {days!r}")
    if days is not None and not 0 < days <= MAX_DAYS:
        raise ConfigError(f"days must be more than 0 and at most {MAX_DAYS:,} (a century), not {days:g}")


def backtest_config(config: dict, user_module: str | None = None):
    """The controller config of ``config`` (:func:`load_config`), refused as a ConfigError when a
    backtest could not run it: a capital (``total_amount_quote``) that is not more than 0."""
    controller_config = load_config(config, user_module)
    if controller_config.total_amount_quote <= 0:
        raise ConfigError(f"total_amount_quote must be more than 0, not {controller_config.total_amount_quote}: "
                          "it is the account's starting capital")
    return controller_config


def _is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def backtest(config: dict, start: int | None = None, end: int | None = None, resolution: str = "1m",
             trade_cost: float = DEFAULT_TRADE_COST, engine: str = "turbo", *, days: float | None = None,
             candles: CandleSource | CandleWindows | None = None, user_module: str | None = None,
             ledger: bool = False, feature_timing: str = "close", costs: Costs | dict = Costs()) -> dict:
    """Backtest a controller config offline and return a JSON-safe result.

    The window is ``[start, end]`` (epoch seconds) or, with ``days``, the last ``days`` days the
    data covers. Candles come from ``candles``, a ``(connector, pair, interval) -> array`` source
    or a :class:`CandleWindows` (default: the mirror, each pair's files refreshed as it is read,
    :func:`read_candles`). ``feature_timing``
    says when a controller's features reach the ticks: ``"close"`` once their candle has closed,
    ``"open"`` on the candle's open time as Hummingbot does (see :mod:`hbopt.engine.stock`).
    ``costs`` chooses the cost model (a :class:`~hbopt.engine.exchange.costs.Costs` or its
    ``as_dict``): Hummingbot's, charging ``trade_cost``, or the exchange's.
    The result holds Hummingbot's ``summarize_results`` metrics (Hummingbot's, unchanged), plus
    hbopt's ``account`` (the figures of the account of the run's fills,
    :meth:`hbopt.engine.account.Account.figures`) and ``pnl``, that account's equity change per
    period (:meth:`~hbopt.engine.account.Account.series`), plus ``engine`` (the engine that ran),
    ``feature_timing``, ``config`` (the resolved config), ``start``, ``end``, ``resolution``,
    ``trade_cost``, ``timings``, ``warnings`` and ``versions``; asked for turbo, it adds
    ``turbo_fallback``: why the stock engine ran instead, or ``None``; with ``ledger`` also
    ``ledger`` (``{"fills": [...], "executors": [...], "equity": {...}}``: every fill of the
    account, every executor as Hummingbot reports it, the equity sampled for a chart,
    :meth:`~hbopt.engine.account.Account.curve`). Passing ``config``, ``start``, ``end``,
    ``resolution``, ``trade_cost``, ``feature_timing`` and ``costs`` back in reproduces it; the
    result's ``costs`` says which model ran and, for the exchange's, the rates it charged.

    An exception raised by the controller's code or by Hummingbot becomes a
    :class:`ControllerError` naming the file and line.
    """
    if (days is None) == (start is None or end is None):
        raise ConfigError("give either days or both start and end")
    check_settings(engine, resolution, trade_cost, feature_timing, days)
    costs = costs if isinstance(costs, Costs) else Costs(**costs)
    if days is None and start >= end:
        raise ConfigError(f"the window start {utc(start)} is not before its end {utc(end)}")
    began = time.perf_counter()
    if candles is None:
        candles = read_candles()
    elif not isinstance(candles, CandleWindows):
        candles = CandleWindows(candles)
    fallback = None
    with offline():
        controller_config = backtest_config(config, user_module)
        charged = connector_costs(costs, controller_config.connector_name) if costs.exchange else None
        run = functools.partial(_run, controller_config=controller_config, start=start, end=end, days=days,
                                resolution=resolution, trade_cost=trade_cost, candles=candles,
                                feature_timing=feature_timing, costs=costs)
        if engine == "turbo":
            from hbopt.engine.turbo import TurboBacktestingEngine, Unsupported
            try:
                outcome = run(TurboBacktestingEngine)
            except Unsupported as exc:
                fallback = str(exc)
        if engine == "stock" or fallback:
            from hbopt.engine.stock import StockBacktestingEngine
            try:
                outcome = run(StockBacktestingEngine)
            except ControllerError as exc:
                if not fallback:
                    raise
                raise ControllerError(f"{exc}; turbo stepped aside: {fallback}") from exc
    features_interval, output, start, end, warnings, run_s = outcome
    features = output["processed_data"]["features"]
    ticks = Ticks(features.index.to_numpy(dtype="float64"), features["close"].to_numpy(dtype="float64"))
    funding, funding_warnings = (
        funding_rates(candles, controller_config.connector_name, controller_config.trading_pair, start, end)
        if charged and charged.perpetual else (None, []))
    account = account_of(output["executors"], ticks, float(controller_config.total_amount_quote), trade_cost, charged,
                         funding)
    series = account.series(int(start), int(end))
    figures = account.figures(series)
    result = json_safe(output["results"])
    result.update({
        "account": figures,
        "pnl": series,
        "engine": "turbo" if engine == "turbo" and not fallback else "stock",
        **({"turbo_fallback": fallback} if engine == "turbo" else {}),
        "feature_timing": feature_timing,
        "config": config_to_dict(controller_config),
        "start": int(start), "end": int(end), "resolution": resolution, "trade_cost": trade_cost,
        "costs": {**costs.as_dict(), **({"charged": charged.as_dict()} if charged else {})},
        "timings": {"run_s": round(run_s, 4), "total_s": round(time.perf_counter() - began, 4), "ticks": len(ticks.ts)},
        "warnings": warnings + funding_warnings + feature_timing_warning(features_interval, resolution, feature_timing)
        + config_warnings(controller_config, resolution) + outcome_warnings(output["executors"], trade_cost)
        + account_warnings(figures, result["net_pnl_quote"], sum(f.kind == "liquidation" for f in account.fills)),
        "versions": {"hbopt": __version__, "hummingbot": version("hummingbot")},
    })
    if ledger:
        result["ledger"] = {"fills": account.ledger(), "executors": [ledger_row(info) for info in output["executors"]],
                            "equity": account.curve(start)}
    return result


def _run(engine_class, controller_config, start, end, days, resolution, trade_cost, candles, feature_timing, costs):
    """Run one engine (hbopt's stock engine or its turbo subclass) on provided data; the
    controller's or Hummingbot's exceptions become :class:`ControllerError`."""
    return _blamed(controller_config, _run_engine(engine_class(feature_timing, costs), controller_config, start, end,
                                                  days, resolution, trade_cost, candles))


def _blamed(controller_config, coroutine):
    """Run ``coroutine`` (code of the controller's and Hummingbot's wants a running loop); an
    exception the controller's code or Hummingbot raised becomes a :class:`ControllerError` naming
    where (hbopt's own are left as they are: bugs)."""
    try:
        return asyncio.run(coroutine)
    except HboptError:
        raise
    except (Exception, SystemExit) as exc:  # sys.exit() in a controller must not end hbopt quietly
        blamed = blame(exc, type(controller_config).__module__.rsplit(".", 2)[0])
        if blamed is None:
            raise
        raise blamed from exc


def data_window(config: dict, resolution: str = "1m", *, days: float | None = None, start: int | None = None,
                end: int | None = None, candles: CandleSource | CandleWindows | None = None,
                user_module: str | None = None) -> dict:
    """The window a :func:`backtest` of ``config`` with these arguments runs on, without running
    it: ``{"start", "end", "warmup"}`` in epoch seconds, ``warmup`` being how long before
    ``start`` its earliest candle is (the controller's indicator warm-up). A window the data does
    not cover, warm-up included, is the :class:`DataError` the backtest would raise."""
    if candles is None:
        candles = read_candles()
    elif not isinstance(candles, CandleWindows):
        candles = CandleWindows(candles)
    from hbopt.engine.stock import StockBacktestingEngine

    async def feeds_of(controller_config):
        return _feeds(StockBacktestingEngine(), controller_config, resolution)

    controller_config = load_config(config, user_module)
    with offline():
        feeds = _blamed(controller_config, feeds_of(controller_config))
    if days is not None:
        start, end = window_for_days(feeds, candles, days)
    for feed in feeds:
        check_coverage(feed, candles, start, end)
    return {"start": int(start), "end": int(end), "warmup": max(f.warmup for f in feeds)}


def _feeds(engine, controller_config, resolution: str):
    """The candle feeds the controller reads, from an instance made on the engine's provider."""
    probe = controller_config.get_controller_class()(config=controller_config,
                                                     market_data_provider=engine.backtesting_data_provider,
                                                     actions_queue=None)
    return required_feeds(probe, resolution)


async def _run_engine(engine, controller_config, start, end, days, resolution, trade_cost, candles):
    logging.getLogger("hummingbot").setLevel(logging.WARNING)
    provider = engine.backtesting_data_provider
    feeds = _feeds(engine, controller_config, resolution)
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
    # The engine itself is not returned: freed now, its arrays never outlive the run.
    return engine.features_interval, output, start, end, warnings, time.perf_counter() - began
