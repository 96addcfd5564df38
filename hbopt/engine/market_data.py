"""Handing Hummingbot's ``BacktestingDataProvider`` everything it would otherwise download.

The provider reuses a candles feed when ``candles_feeds["{connector}_{pair}_{interval}"]`` spans
the backtest window, and skips the exchange when ``trading_rules[connector]`` is filled. This
module works out which feeds a controller needs (the backtest resolution plus its own
``get_candles_config()``, each with ``max_records`` candles of warm-up), checks the local data
covers them, and fills both in. Missing data is a :class:`DataError`, never a download.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hbopt.cache.candles import find_gaps, interval_seconds
from hbopt.cache.funding import FUNDING, interval_hours
from hbopt.cache.windows import CandleWindows
from hbopt.engine.trading_rules import trading_rule
from hbopt.errors import ConfigError, DataError

DAY = 86400


@dataclass(frozen=True)
class Feed:
    """One candles feed a backtest needs: its interval and seconds of history before ``start``."""

    connector: str
    pair: str
    interval: str
    warmup: int

    @property
    def key(self) -> str:
        return f"{self.connector}_{self.pair}_{self.interval}"


def utc(ts: float) -> str:
    return pd.Timestamp(int(ts), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def required_feeds(controller, resolution: str) -> list[Feed]:
    """The feeds a controller instance reads, merged by key (largest warm-up wins)."""
    cfg = controller.config
    feeds = {f"{cfg.connector_name}_{cfg.trading_pair}_{resolution}":
             Feed(cfg.connector_name, cfg.trading_pair, resolution, 0)}
    for candles in controller.get_candles_config():
        feed = Feed(candles.connector, candles.trading_pair, candles.interval,
                    candles.max_records * interval_seconds(candles.interval))
        if feed.key not in feeds or feeds[feed.key].warmup < feed.warmup:
            feeds[feed.key] = feed
    return list(feeds.values())


def window_for_days(feeds: list[Feed], candles: CandleWindows, days: float) -> tuple[int, int]:
    """The last ``days`` days that every feed covers: ends on the latest timestamp all feeds
    reach (so each feed holds a candle at or after the end, as the provider requires). More days
    than a feed holds is a :class:`ConfigError` saying how many it holds."""
    spans = {feed: _span(candles, feed) for feed in feeds}
    end = min(last for _, last in spans.values())
    for feed, (first, _) in spans.items():
        if days * DAY > end - first:
            raise ConfigError(f"{days:g} days is more than the {(end - first) / DAY:.5g} days of {feed.connector} "
                              f"{feed.pair} {feed.interval} candles stored ({utc(first)} -> {utc(end)})")
    return int(end - days * DAY), int(end)


def _span(candles: CandleWindows, feed: Feed) -> tuple[float, float]:
    arr = candles.array(feed.connector, feed.pair, feed.interval)
    if len(arr) == 0:
        raise DataError(f"no {feed.interval} candles for {feed.connector} {feed.pair}")
    return float(arr[0, 0]), float(arr[-1, 0])


def check_coverage(feed: Feed, candles: CandleWindows, start: int, end: int) -> tuple[np.ndarray, int, int]:
    """The feed's whole array and the span a backtest over ``[start, end]`` needs of it (from
    ``start - warmup`` to the first candle at or after ``end``); a :class:`DataError` saying what
    is missing if the array does not cover that span."""
    arr = candles.array(feed.connector, feed.pair, feed.interval)
    step = interval_seconds(feed.interval)
    need_from = start - feed.warmup
    need_to = -(-end // step) * step  # first candle at or after end
    what = f"{feed.connector} {feed.pair} {feed.interval} candles"
    if len(arr) == 0:
        raise DataError(f"no {what}; import, fetch or synth them, then 'hbopt mirror refresh'")
    first, last = float(arr[0, 0]), float(arr[-1, 0])
    if first > need_from or last < need_to:
        warm = f" (incl. {feed.warmup // step} candles of indicator warm-up)" if feed.warmup else ""
        raise DataError(f"{what} cover {utc(first)} -> {utc(last)}, but the window needs "
                        f"{utc(need_from)} -> {utc(need_to)}{warm}")
    return arr, need_from, need_to


def feed_frame(feed: Feed, candles: CandleWindows, start: int, end: int) -> tuple[pd.DataFrame, list[str]]:
    """The candles of ``feed`` for a backtest over ``[start, end]``, with warnings about gaps.

    Spans ``start - warmup`` through the first candle at or after ``end``; anything less is a
    :class:`DataError` saying what is missing.
    """
    arr, need_from, need_to = check_coverage(feed, candles, start, end)
    step = interval_seconds(feed.interval)
    what = f"{feed.connector} {feed.pair} {feed.interval} candles"
    ts = arr[:, 0]
    # From the last candle at or before need_from to the first at or after need_to, so that a gap
    # at either end still leaves the feed spanning the window, as Hummingbot's provider checks.
    first_row, last_row = int(np.searchsorted(ts, need_from, "right")) - 1, int(np.searchsorted(ts, need_to, "left"))
    frame = candles.frame(feed.connector, feed.pair, feed.interval, first_row, last_row)
    warnings = []
    gaps = find_gaps(ts[first_row:last_row + 1], step)
    if gaps:
        missing = sum(g[2] for g in gaps)
        warnings.append(f"{what}: {missing} missing candle(s) in {len(gaps)} gap(s) inside the window")
    return frame, warnings


def fill_provider(provider, controller_config, feeds: list[Feed], candles: CandleWindows,
                  start: int, end: int) -> list[str]:
    """Put every feed and the trading rules into a ``BacktestingDataProvider``; returns warnings."""
    warnings = []
    for feed in feeds:
        frame, feed_warnings = feed_frame(feed, candles, start, end)
        provider.candles_feeds[feed.key] = frame
        warnings += feed_warnings
    connector, pair = controller_config.connector_name, controller_config.trading_pair
    provider.trading_rules.setdefault(connector, {})[pair] = trading_rule(connector, pair)
    return warnings


def funding_rates(candles: CandleWindows, connector: str, pair: str, start: int, end: int) -> tuple[np.ndarray, list[str]]:
    """The funding rates of a perpetual pair over ``[start, end]`` (rows of funding time and
    rate), with a warning when the window holds none (none are charged) or the rates stop short
    of either end of it by more than their interval (an hour at least)."""
    what = f"{connector} {pair}"
    try:
        rates = np.asarray(candles.array(connector, pair, FUNDING))
    except DataError:
        rates = np.empty((0, 2))
    inside = rates[(rates[:, 0] >= start) & (rates[:, 0] <= end)]
    if not len(inside):
        return inside, [f"no funding rates for {what} in the window: none charged; import or fetch them "
                        "('hbopt data import --funding', 'hbopt data fetch --funding')"]
    every = 3600 * max(1.0, interval_hours(rates[:, 0]) or 8)  # no exchange funds more often than hourly
    first, last = inside[0, 0], inside[-1, 0]
    if first - start > every or end - last > every:
        return inside, [f"funding rates for {what} cover only {utc(first)} -> {utc(last)} of the window "
                        f"{utc(start)} -> {utc(end)}: none charged outside it"]
    return inside, []
