"""Downloading candles with Hummingbot's own candle feeds (``CandlesFactory``), and a perpetual
pair's funding rates from its exchange's public REST API (:func:`fetch_funding`).

Only what the store is missing is requested: the candles before the first stored one and after
the last, up to the last *closed* candle (never the one still forming, never the future). The
download runs without holding the store file's lock; what it brought is merged into the file as
it is stored by then, under the lock, so a write made meanwhile is kept.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
import urllib.request

import pandas as pd

from hbopt.cache import funding
from hbopt.cache.candles import COLUMNS, interval_seconds, normalise
from hbopt.cache.funding import FUNDING
from hbopt.cache.store import CandleKey, CandleStore
from hbopt.errors import ConfigError, DataError

DAY = 86400

# Hummingbot shares one aiohttp session per process, bound to the event loop that created it,
# so every download of this process runs on the same loop.
_loop: asyncio.AbstractEventLoop | None = None


def _run(coro):
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coro)


def supported_connectors() -> list[str]:
    from hummingbot.data_feed.candles_feed.candles_factory import CandlesFactory

    return sorted(CandlesFactory._candles_map)


def missing_ranges(stored: pd.DataFrame | None, start: int, end: int, step: int) -> list[tuple[int, int]]:
    """The ``[from, to]`` ranges of ``[start, end]`` lying before or after the stored candles."""
    if stored is None or stored.empty:
        return [(start, end)]
    first, last = int(stored["timestamp"].iat[0]), int(stored["timestamp"].iat[-1])
    ranges = []
    if start < first:
        ranges.append((start, first - step))
    if end > last:
        ranges.append((max(start, last + step), end))
    return [(a, b) for a, b in ranges if a <= b]


async def _download(key: CandleKey, start: int, end: int) -> pd.DataFrame:
    from hummingbot.data_feed.candles_feed.candles_factory import CandlesFactory
    from hummingbot.data_feed.candles_feed.data_types import CandlesConfig, HistoricalCandlesConfig

    feed = CandlesFactory.get_candle(CandlesConfig(connector=key.connector, trading_pair=key.pair,
                                                   interval=key.interval, max_records=1000))
    return await feed.get_historical_candles(HistoricalCandlesConfig(
        connector_name=key.connector, trading_pair=key.pair, interval=key.interval,
        start_time=start, end_time=end))


def fetch(key: CandleKey, days: float, store: CandleStore | None = None, now: float | None = None) -> dict:
    """Bring the stored candles of ``key`` up to the last ``days`` days, downloading only what is
    missing. Returns what was done: ranges requested, rows added (downloaded candles the store
    lacked when the fetch began), and the stored rows and span after the merge."""
    if key.connector not in supported_connectors():
        raise ConfigError(f"no Hummingbot candle feed for connector {key.connector!r}; "
                          f"supported: {', '.join(supported_connectors())}")
    if days <= 0:
        raise ConfigError("--days must be positive")
    store = store or CandleStore()
    step = interval_seconds(key.interval)
    end = int((now if now is not None else time.time()) // step * step - step)  # last closed candle
    start = int(end - days * DAY) // step * step
    stored = stored_series(store, key)
    ranges = missing_ranges(stored, start, end, step)
    frames = []
    logging.getLogger("hummingbot").setLevel(logging.CRITICAL)
    for lo, hi in ranges:
        try:
            raw = _run(_download(key, lo, hi))
        except Exception as exc:
            raise DataError(f"fetching {key} {lo}..{hi} failed: {type(exc).__name__}: {exc}") from None
        if len(raw):
            frames.append(raw)
    fresh = None
    if frames:
        fresh, _ = normalise(pd.concat(frames, ignore_index=True)[list(COLUMNS)], key.interval)
        fresh = fresh[fresh["timestamp"] <= end]
    return _merged(store, key, stored, fresh, ranges)


def stored_series(store: CandleStore, key: CandleKey) -> pd.DataFrame | None:
    """The timestamps stored for ``key`` before a fetch, as a one-column frame (None: none; what a
    fetch needs to know what is missing); a :class:`DataError` if the series is synthetic, which
    real rows must not be mixed into."""
    if not store.exists(key):
        return None
    if store.metadata(key).get("synthetic"):
        raise DataError(f"{key.stem} holds a synthetic series; remove it before fetching real data")
    return store.read(key, columns=("timestamp",))


def _merged(store: CandleStore, key: CandleKey, stored: pd.DataFrame | None, fresh: pd.DataFrame | None,
            ranges: list[tuple[int, int]]) -> dict:
    """Merge what a fetch of ``ranges`` brought (``fresh``, normalised; None or empty: nothing)
    into the stored series (``stored`` as the fetch found it) and say what was done: the ranges,
    rows added (those the store lacked), and the stored rows and span after the merge."""
    added = 0
    if fresh is not None and not fresh.empty:
        added = len(fresh) if stored is None else int((~fresh["timestamp"].isin(stored["timestamp"])).sum())
        stored = store.add(key, fresh, {"source": f"fetch:{key.connector}", "synthetic": False,
                                        "updated_at": int(time.time())})
    rows = 0 if stored is None else len(stored)
    first, last = (int(stored["timestamp"].iat[0]), int(stored["timestamp"].iat[-1])) if rows else (None, None)
    return {"file": key.stem, "requested": [list(r) for r in ranges], "added": added, "rows": rows,
            "first": first, "last": last}


# ---------------------------------------------------------------------------- funding rates
#: The public REST host of each connector whose funding history hbopt can download.
FUNDING_HOSTS = {"binance_perpetual": "https://fapi.binance.com", "bybit_perpetual": "https://api.bybit.com"}
_FUNDING_PAGE = {"binance_perpetual": 1000, "bybit_perpetual": 200}
_NEWEST_FIRST = {"bybit_perpetual"}


def _funding_url(connector: str, base: str, symbol: str, start_ms: int, end_ms: int) -> str:
    query = {"symbol": symbol, "startTime": start_ms, "endTime": end_ms, "limit": _FUNDING_PAGE[connector]}
    if connector == "binance_perpetual":
        return f"{base}/fapi/v1/fundingRate?{urllib.parse.urlencode(query)}"
    return f"{base}/v5/market/funding/history?{urllib.parse.urlencode({'category': 'linear', **query})}"


def _funding_rows(connector: str, body) -> list[tuple[int, float]]:
    """``(funding time in ms, rate)`` of one page of the exchange's answer, oldest first."""
    if connector == "binance_perpetual":
        return sorted((int(r["fundingTime"]), float(r["fundingRate"])) for r in body)
    if body.get("retCode") != 0:
        raise DataError(f"bybit answered {body.get('retCode')}: {body.get('retMsg')}")
    return sorted((int(r["fundingRateTimestamp"]), float(r["fundingRate"])) for r in body["result"]["list"])


def _get_json(url: str):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)
    except (OSError, ValueError) as exc:
        raise DataError(f"fetching {url.split('?')[0]} failed: {type(exc).__name__}: {exc}") from None


def fetch_funding(connector: str, pair: str, days: float, base_url: str | None = None,
                  store: CandleStore | None = None, now: float | None = None) -> dict:
    """Bring the stored funding rates of a perpetual pair up to the last ``days`` days from the
    exchange's public REST API (``base_url`` instead of its host, e.g. a mirror or a test
    server), downloading only what the store is missing. Returns what was done, as :func:`fetch`."""
    if connector not in FUNDING_HOSTS:
        raise ConfigError(f"no funding-rate download for connector {connector!r}; supported: "
                          f"{', '.join(FUNDING_HOSTS)} (or import a file: 'hbopt data import --funding')")
    if days <= 0:
        raise ConfigError("--days must be positive")
    key, store = CandleKey(connector, pair, FUNDING), store or CandleStore()
    end = int(now if now is not None else time.time())
    start = int(end - days * DAY)
    stored = stored_series(store, key)
    ranges = missing_ranges(stored, start, end, 1)
    base, symbol, rows = (base_url or FUNDING_HOSTS[connector]).rstrip("/"), pair.replace("-", ""), []
    for lo, hi in ranges:
        lo, hi = lo * 1000, hi * 1000
        while lo <= hi:
            page = _funding_rows(connector, _get_json(_funding_url(connector, base, symbol, lo, hi)))
            page = [row for row in page if lo <= row[0] <= hi]
            rows += page
            if len(page) < _FUNDING_PAGE[connector]:
                break
            if connector in _NEWEST_FIRST:  # a full page is the newest of the range: the rest is older
                hi = page[0][0] - 1
            else:
                lo = page[-1][0] + 1
    fresh = funding.normalise(pd.DataFrame(rows, columns=list(funding.COLUMNS)))[0] if rows else None
    return _merged(store, key, stored, fresh, ranges)
