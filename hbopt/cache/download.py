"""Downloading Binance's public data dumps (``data.binance.vision``) into the store.

The dumps hold one zip per symbol, interval and month (``data/spot/monthly/klines/BTCUSDT/1m/
BTCUSDT-1m-2025-01.zip``), or per day (``daily/``) for the current month, each beside a
``.CHECKSUM`` with its SHA-256; USD-M futures live under ``data/futures/um``, COIN-M under
``data/futures/cm`` and USD-M funding rates under ``data/futures/um/monthly/fundingRate``.

:func:`download` asks only for the files whose span the store does not already hold, several at
a time. Each lands in a private folder under ``$HBOPT_HOME/downloads`` as ``NAME.part`` (a dropped
connection resumes where it stopped, with an HTTP range request), becomes ``NAME`` once its
checksum is verified, and is merged into the store only once every file of its pair is verified;
merged files are removed. A run that was killed, or that failed on one file, leaves its verified
files there, so the next run downloads only what is still missing.
"""
from __future__ import annotations

import calendar
import http.client
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from hbopt import __version__, settings
from hbopt.cache import funding
from hbopt.cache.candles import interval_seconds
from hbopt.cache.fetch import stored_series
from hbopt.cache.importers import import_file, import_funding
from hbopt.cache.sources import verify_checksum
from hbopt.cache.store import CandleKey, CandleStore
from hbopt.errors import ConfigError, DataError
from hbopt.files import append_owned, owned_folder, write_text_atomic

BINANCE_DATA = "https://data.binance.vision"
CONNECTORS = ("binance", "binance_perpetual")
#: Binance's kline intervals that are also Hummingbot's (``1s`` is published for spot only).
INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w")
DEFAULT_JOBS = 4
RETRIES = 3          # tries per file: a dropped connection resumes, a damaged file starts over
MERGE_FILES = 12     # files merged per locked write: a year of monthly files
_CHUNK = 1 << 20
DAY = 86400


class Missing(Exception):
    """The host has no such file (HTTP 404)."""


@dataclass(frozen=True)
class DumpFile:
    """One published zip: its path under the host, and the span of time ``[start, end)`` it holds."""

    path: str
    start: int
    end: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Market:
    """Where a pair's dumps live: the market's folder and the symbol Binance files it under."""

    folder: str   # "spot", "futures/um" or "futures/cm"
    symbol: str


def market(connector: str, pair: str) -> Market:
    """Binance's market and symbol for a Hummingbot connector and pair: ``binance`` is spot,
    ``binance_perpetual`` USD-M, or COIN-M for a pair quoted in USD (``BTC-USD``: ``BTCUSD_PERP``)."""
    if connector not in CONNECTORS:
        raise ConfigError(f"no public dumps for connector {connector!r}; 'hbopt data download' knows "
                          f"{', '.join(CONNECTORS)} (others: 'hbopt data fetch' or 'hbopt data import')")
    base, _, quote = pair.upper().partition("-")
    if connector == "binance":
        return Market("spot", base + quote)
    if quote == "USD":
        return Market("futures/cm", f"{base}USD_PERP")
    return Market("futures/um", base + quote)


def _month_span(year: int, month: int) -> tuple[int, int]:
    first = calendar.timegm((year, month, 1, 0, 0, 0))
    return first, first + calendar.monthrange(year, month)[1] * DAY


def _months(start: date, end: date):
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def dump_files(connector: str, pair: str, interval: str | None, start: date, end: date,
               today: date) -> list[DumpFile]:
    """The files covering ``start``..``end`` (whole UTC days): the monthly file of every month before
    ``today``'s, the daily files of ``today``'s month up to yesterday. ``interval`` None: the funding
    rates, published monthly only (a month not over yet has none)."""
    where = market(connector, pair)
    kind, tail = _series(where, interval)
    end = min(end, today - timedelta(days=1))
    files = []
    for year, month in _months(start, end):
        if (year, month) < (today.year, today.month):
            first, after = _month_span(year, month)
            files.append(DumpFile(f"data/{where.folder}/monthly/{kind}/{where.symbol}-{tail}-{year}-{month:02d}.zip",
                                  first, after))
        elif interval is not None:
            files += daily_files(where, kind, tail, max(start, date(year, month, 1)), end)
    return files


def _series(where: Market, interval: str | None) -> tuple[str, str]:
    """The folder of a symbol's series below ``monthly/`` or ``daily/``, and its files' name tail."""
    if interval is None:
        return f"fundingRate/{where.symbol}", "fundingRate"
    return f"klines/{where.symbol}/{interval}", interval


def daily_files(where: Market, kind: str, tail: str, first: date, last: date) -> list[DumpFile]:
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [DumpFile(f"data/{where.folder}/daily/{kind}/{where.symbol}-{tail}-{day.isoformat()}.zip",
                     calendar.timegm(day.timetuple()), calendar.timegm(day.timetuple()) + DAY) for day in days]


def lacking(files: list[DumpFile], stored: pd.DataFrame | None, step: int) -> list[DumpFile]:
    """The files whose span the stored series (None: nothing stored) does not hold: a file is held
    when the series runs from its start to its last candle (``step`` before its end) and has rows in it."""
    if stored is None or stored.empty:
        return list(files)
    ts = stored["timestamp"].to_numpy()
    first, last = ts[0], ts[-1]

    def held(f: DumpFile) -> bool:
        return first <= f.start and f.end - step <= last and bool(((ts >= f.start) & (ts < f.end)).any())
    return [f for f in files if not held(f)]


# ------------------------------------------------------------------------------ one file
def _open(url: str, offset: int = 0):
    headers = {"User-Agent": f"hbopt/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise Missing(url) from None
        if exc.code >= 500:  # the host's trouble, worth another try
            raise ConnectionError(f"{url}: the host answered {exc.code} {exc.reason}") from None
        raise DataError(f"{url}: the host answered {exc.code} {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise ConnectionError(f"{url}: {type(exc).__name__}: {exc}") from None


def _checksum_text(url: str) -> str:
    with _open(url + ".CHECKSUM") as response:
        return response.read(4096).decode("ascii", errors="replace")


def _fetch_into(url: str, part: Path) -> int:
    """Append the rest of ``url`` to ``part`` (from its current size); the bytes brought. A
    :class:`ConnectionError` when the connection drops before the whole file came."""
    offset = part.stat().st_size if part.exists() else 0
    fd = append_owned(part, "download")
    brought = 0
    try:
        with _open(url, offset) as response:
            if offset and response.status != 206:  # the host ignored the range: start over
                os.ftruncate(fd, 0)
                offset = 0
            expected = response.headers.get("Content-Length")
            while chunk := response.read(_CHUNK):
                os.write(fd, chunk)
                brought += len(chunk)
    except (OSError, http.client.HTTPException) as exc:
        raise ConnectionError(f"{url}: the connection dropped after {offset + brought} bytes ({exc})") from None
    finally:
        os.close(fd)
    if expected is not None and brought < int(expected):
        raise ConnectionError(f"{url}: the connection dropped after {offset + brought} of "
                              f"{offset + int(expected)} bytes")
    return brought


def fetch_file(base_url: str, f: DumpFile, folder: Path) -> tuple[Path | None, int]:
    """``f`` verified in ``folder`` (already there from an earlier run, or downloaded now), and the
    bytes downloaded for it; ``(None, 0)`` when the host has no such file. A :class:`DataError`
    after :data:`RETRIES` tries that dropped or did not match the checksum."""
    target, checksum = folder / f.name, folder / (f.name + ".CHECKSUM")
    part = folder / (f.name + ".part")
    url = f"{base_url}/{f.path}"
    if target.is_file() and checksum.is_file():
        try:
            verify_checksum(target, target.read_bytes())
            return target, 0
        except DataError:
            target.unlink()
    brought, problem = 0, ""
    try:
        write_text_atomic(checksum, _checksum_text(url), mode=0o600)
        for _ in range(RETRIES):
            try:
                brought += _fetch_into(url, part)
            except ConnectionError as exc:
                problem = str(exc)
                continue
            try:
                verify_checksum(target, part.read_bytes())  # against the .CHECKSUM just written
            except DataError:
                problem = f"{f.name}: its SHA-256 is not the one its .CHECKSUM holds"
                part.unlink()
                continue
            os.replace(part, target)
            return target, brought
    except Missing:
        checksum.unlink(missing_ok=True)
        return None, brought
    except ConnectionError as exc:
        problem = str(exc)
    raise DataError(f"{problem} ({RETRIES} tries)")


# ------------------------------------------------------------------------------ a run
@dataclass
class PairPlan:
    key: CandleKey
    files: list[DumpFile]       # every file of the span
    needed: list[DumpFile]      # those the store lacks
    folder: Path
    stored: pd.DataFrame | None
    step: int


def downloads_dir() -> Path:
    return settings.home() / "downloads"


def _plan(connector: str, pair: str, interval: str | None, start: date, end: date, today: date,
          store: CandleStore) -> PairPlan:
    key = CandleKey(connector, pair, funding.FUNDING if interval is None else interval)
    files = dump_files(connector, pair, interval, start, end, today)
    step = DAY if interval is None else interval_seconds(interval)
    stored = stored_series(store, key)
    where = market(connector, pair)
    folder = downloads_dir() / "binance" / where.folder / _series(where, interval)[0]
    return PairPlan(key, files, lacking(files, stored, step), folder, stored, step)


def not_out_yet(f: DumpFile, where: Market, interval: str | None, start: date, end: date,
                today: date) -> list[DumpFile]:
    """The daily files standing in for ``f`` when it is the monthly kline file of the month before
    ``today``'s, which Binance publishes some days into the next month; none otherwise."""
    month = datetime.fromtimestamp(f.start, timezone.utc).date()
    previous = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    if interval is None or "/monthly/" not in f.path or month != previous:
        return []
    last = min(end, today - timedelta(days=1), today.replace(day=1) - timedelta(days=1))
    return daily_files(where, *_series(where, interval), max(start, month), last)


def download(connector: str, pairs: list[str], interval: str | None, start: date, end: date,
             base_url: str | None = None, jobs: int = DEFAULT_JOBS, store: CandleStore | None = None,
             today: date | None = None, on_file=None) -> dict:
    """Download Binance's dumps of ``pairs`` (``interval`` None: their funding rates) over
    ``start``..``end`` from ``base_url`` (default :data:`BINANCE_DATA`), ``jobs`` files at a time,
    and merge each pair's into the store once all of its files are verified.

    ``on_file(plan_total, bytes)`` is called after each file that was needed (for a progress bar).
    Returns what was done: per pair the files of the span, those skipped (the store held them),
    downloaded, resumed (verified in the downloads folder already), missing (not published), the
    bytes, and the stored series after the merge. A :class:`DataError` names the files that failed
    after their pairs that could be were merged."""
    if interval is not None and interval not in INTERVALS:
        raise ConfigError(f"Binance publishes no {interval!r} klines; use one of {', '.join(INTERVALS)}")
    if interval == "1s" and connector != "binance":
        raise ConfigError("Binance publishes 1s klines for spot (--connector binance) only")
    if not pairs:
        raise ConfigError("no pair to download")
    if interval is None and any(market(connector, pair).folder != "futures/um" for pair in pairs):
        raise ConfigError("Binance's funding-rate dumps are for USD-M perpetuals (binance_perpetual, "
                          "pairs not quoted in USD)")
    today = today or datetime.now(timezone.utc).date()
    if start > end:
        raise ConfigError(f"--start {start} is after --end {end}")
    if start >= today:
        raise ConfigError(f"--start {start} is not before today ({today}): Binance publishes a day once it is over")
    if jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    store = store or CandleStore()
    base = (base_url or BINANCE_DATA).rstrip("/")
    plans = [_plan(connector, pair, interval, start, end, today, store) for pair in dict.fromkeys(pairs)]
    for plan in plans:
        if plan.needed:
            owned_folder(plan.folder, "download folder")
    outcomes: dict[tuple[int, str], tuple[Path | None, int] | DataError] = {}

    def one(task):
        index, f = task
        try:
            outcome = fetch_file(base, f, plans[index].folder)
        except DataError as exc:
            outcome = exc
        outcomes[index, f.name] = outcome
        if on_file:
            on_file(sum(len(p.needed) for p in plans), outcome[1] if isinstance(outcome, tuple) else 0)

    def fetch_all(tasks):
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, tasks))

    fetch_all([(i, f) for i, plan in enumerate(plans) for f in plan.needed])
    stand_ins = []
    for index, plan in enumerate(plans):
        for f in [f for f in plan.needed if outcomes[index, f.name] == (None, 0)]:
            stand_in = not_out_yet(f, market(connector, plan.key.pair), interval, start, end, today)
            if dailies := lacking(stand_in, plan.stored, plan.step):
                plan.needed[plan.needed.index(f):plan.needed.index(f) + 1] = dailies
                stand_ins += [(index, d) for d in dailies]
    fetch_all(stand_ins)
    reports, failures = [], []
    for index, plan in enumerate(plans):
        report, failed = _merge(plan, [outcomes[index, f.name] for f in plan.needed], store)
        reports.append(report)
        failures += failed
    if failures:
        raise DataError(f"{len(failures)} file(s) failed, first {failures[0]}; their pairs were not merged and "
                        f"the verified files wait in {downloads_dir()}: run the same command again")
    return {"connector": connector, "interval": interval or funding.FUNDING, "start": start.isoformat(),
            "end": end.isoformat(), "base_url": base, "pairs": reports}


def _merge(plan: PairPlan, outcomes: list, store: CandleStore) -> tuple[dict, list[str]]:
    failed = [str(o) for o in outcomes if isinstance(o, DataError)]
    got = [o for o in outcomes if isinstance(o, tuple)]
    paths = [path for path, _ in got if path is not None]
    missing = [f.name for f, o in zip(plan.needed, outcomes) if isinstance(o, tuple) and o[0] is None]
    report = {"file": plan.key.stem, "pair": plan.key.pair, "files": len(plan.files),
              "skipped": len(plan.files) - len(plan.needed), "downloaded": sum(1 for _, b in got if b),
              "resumed": sum(1 for p, b in got if p is not None and not b), "missing": missing,
              "bytes": sum(b for _, b in got), "added": 0}
    if not failed and paths:
        stored_before = store.info(plan.key)["rows"] if store.exists(plan.key) else 0
        source = f"download:binance/{plan.folder.relative_to(downloads_dir() / 'binance').as_posix()}"
        for at in range(0, len(paths), MERGE_FILES):
            chunk = paths[at:at + MERGE_FILES]
            if plan.key.is_funding:
                done = import_funding(chunk, plan.key.connector, plan.key.pair, store=store, source=source)
            else:
                done = import_file(chunk, plan.key, store=store, source=source)
            for path in chunk:
                path.unlink()
                path.with_name(path.name + ".CHECKSUM").unlink(missing_ok=True)
        report["added"] = done["stored_rows"] - stored_before
    info = store.info(plan.key) if store.exists(plan.key) else {}
    report.update(rows=info.get("rows", 0), first=info.get("first"), last=info.get("last"))
    if not failed and plan.needed and not any(plan.folder.iterdir()):
        plan.folder.rmdir()
    return report, failed


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from None
