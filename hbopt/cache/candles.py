"""Candle frames in Hummingbot's layout: validation, normalisation and resampling.

A candle frame is a ``pandas.DataFrame`` with exactly :data:`COLUMNS`, ``timestamp`` in epoch
seconds (the candle's open time, aligned to its interval), sorted, without duplicates.
"""
from __future__ import annotations

import math
import re
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hbopt.errors import ConfigError, DataError

COLUMNS = (
    "timestamp", "open", "high", "low", "close", "volume",
    "quote_asset_volume", "n_trades", "taker_buy_base_volume", "taker_buy_quote_volume",
)
PRICE_COLUMNS = ("open", "high", "low", "close")
REQUIRED_COLUMNS = ("timestamp",) + PRICE_COLUMNS + ("volume",)

INTERVAL_SECONDS = {
    "1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800,
    "1h": 3600, "2h": 7200, "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200,
    "1d": 86400, "3d": 259200, "1w": 604800,
}

# Epoch values at or above these are milliseconds / microseconds / nanoseconds rather than seconds.
_MS_THRESHOLD = 1e11
_US_THRESHOLD = 1e14
_NS_THRESHOLD = 1e17
# Nothing traded before this (Bitcoin's first block is of 2009-01-03): an earlier timestamp is a misread one.
EARLIEST = int(pd.Timestamp("2009-01-01", tz="UTC").timestamp())
_EPOCH = pd.Timestamp(0, tz="UTC")


def interval_seconds(interval: str) -> int:
    """Length of a Hummingbot interval string such as ``"1m"`` or ``"4h"``, in seconds."""
    try:
        return INTERVAL_SECONDS[interval]
    except KeyError:
        raise ConfigError(f"unknown interval {interval!r}; use one of {', '.join(INTERVAL_SECONDS)}") from None


@dataclass
class ImportReport:
    """What :func:`normalise` did to a frame, for the user to read."""

    rows: int = 0
    first: int | None = None
    last: int | None = None
    converted_from_ms: int = 0
    duplicates_dropped: int = 0
    invalid_dropped: int = 0
    filled_columns: list[str] = field(default_factory=list)
    gaps: list[tuple[int, int, int]] = field(default_factory=list)  # (last ts before, first ts after, candles missing)

    @property
    def missing_candles(self) -> int:
        return sum(g[2] for g in self.gaps)

    def to_dict(self) -> dict:
        return {
            "rows": self.rows, "first": self.first, "last": self.last,
            "converted_from_ms": self.converted_from_ms, "duplicates_dropped": self.duplicates_dropped,
            "invalid_dropped": self.invalid_dropped, "filled_columns": self.filled_columns,
            "gaps": len(self.gaps), "missing_candles": self.missing_candles,
        }


def to_seconds(values: pd.Series) -> tuple[np.ndarray, int]:
    """Epoch timestamps in seconds (float, NaN where a value is none) from epoch numbers, each
    read as s, ms, µs or ns on its own by its size; from datetimes of any resolution; or from
    date strings (``2025-01-02 03:04:05``, with ``+00:00``, ``Z`` or `` UTC``, or
    CryptoDataDownload's ``2019-10-17 09-AM``; naive ones are UTC).

    Returns the seconds and how many numbers were converted from ms, µs or ns.
    """
    if _holds_dates(values):
        return _date_seconds(values), 0
    ts = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    divisor = np.select([ts >= _NS_THRESHOLD, ts >= _US_THRESHOLD, ts >= _MS_THRESHOLD], [1e9, 1e6, 1e3], 1.0)
    return ts / divisor, int((divisor > 1).sum())


def _holds_dates(values: pd.Series) -> bool:
    """Datetimes, or text most of whose values are not numbers."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    if pd.api.types.is_numeric_dtype(values):
        return False
    present = values.dropna()
    return 2 * pd.to_numeric(present, errors="coerce").notna().sum() < len(present)


def _date_seconds(values: pd.Series) -> np.ndarray:
    if not pd.api.types.is_datetime64_any_dtype(values):
        text = values.astype("string").str.strip()
        hour_only = text.str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{1,2}-[AP]M", case=False).all()
        with warnings.catch_warnings():  # "could not infer format": each date is then parsed on its own
            warnings.simplefilter("ignore", UserWarning)
            values = pd.to_datetime(text, format="%Y-%m-%d %I-%p" if hour_only else None, utc=True, errors="coerce")
    elif values.dt.tz is None:
        values = values.dt.tz_localize("UTC")
    return ((values - _EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype="float64", na_value=np.nan)


def _describe_row(position: int, ts: float) -> str:
    if np.isfinite(ts):
        when = pd.Timestamp(int(ts), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
        return f"row {position + 1} (timestamp {int(ts)}, {when})"
    return f"row {position + 1}"


def _invalid_rows(df: pd.DataFrame, step: int) -> tuple[np.ndarray, str | None]:
    """Which rows are invalid (a boolean array), and what is wrong with the first of them, with
    its row number and time (``None`` when every row is valid). A row's problem is the first of
    these it fails: a timestamp that is missing, before 2009 or in the future; a price or volume
    that is missing or infinite; a price that is not positive; a negative volume; high < low; a
    high or low that does not contain open and close; a timestamp off the interval's grid."""
    measured = PRICE_COLUMNS + ("volume",)
    c = {name: df[name].to_numpy(dtype="float64") for name in ("timestamp",) + measured}
    ts = c["timestamp"]
    with np.errstate(invalid="ignore"):
        fine = [("timestamp is missing or not a number", np.isfinite(ts)),
                ("timestamp is before 2009", ts >= EARLIEST),
                ("timestamp is in the future", ts <= time.time() + step),
                *((f"{col} is missing or not a finite number", np.isfinite(c[col])) for col in measured),
                *((f"{col} is not positive", c[col] > 0) for col in PRICE_COLUMNS),
                ("volume is negative", c["volume"] >= 0),
                ("high < low", c["high"] >= c["low"]),
                ("high is below open or close", c["high"] >= np.maximum(c["open"], c["close"])),
                ("low is above open or close", c["low"] <= np.minimum(c["open"], c["close"])),
                (f"timestamp is not aligned to the {step}s interval", ts % step == 0)]
    bad = ~np.logical_and.reduce([ok for _, ok in fine])
    if not bad.any():
        return bad, None
    first = int(np.flatnonzero(bad)[0])
    return bad, f"{_describe_row(first, ts[first])}: {next(text for text, ok in fine if not ok[first])}"


def normalise(raw: pd.DataFrame, interval: str, repair: bool = False,
              force: bool = False) -> tuple[pd.DataFrame, ImportReport]:
    """Validate ``raw`` and turn it into a candle frame.

    Timestamps become epoch seconds (see :func:`to_seconds`), missing optional columns are
    filled with zeros, rows are sorted and de-duplicated (the last occurrence wins) and gaps are
    reported. Rows with a missing, infinite or non-positive price, inconsistent OHLC, or a
    timestamp that is misaligned, before 2009 or in the future raise a :class:`DataError`
    naming the first such row, unless ``repair`` asks to drop them; even then more than half
    the rows invalid is a :class:`DataError` (the file is misread, not dirty) unless ``force``.
    """
    step = interval_seconds(interval)
    report = ImportReport()
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, raw.columns))}")
    raw = raw.reset_index(drop=True)
    seconds, report.converted_from_ms = to_seconds(raw["timestamp"])
    df = pd.DataFrame({"timestamp": seconds,
                       **{c: pd.to_numeric(raw[c], errors="coerce") for c in COLUMNS[1:] if c in raw.columns}})
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = 0.0
            report.filled_columns.append(col)
    df = df[list(COLUMNS)].astype("float64")

    bad, problem = _invalid_rows(df, step)
    if problem:
        if not repair:
            raise DataError(f"{problem} ({int(bad.sum())} invalid row(s) in all; --repair drops them)")
        if 2 * bad.sum() > len(df) and not force:
            raise DataError(f"{int(bad.sum())} of {len(df)} rows are invalid (the first: {problem}); refusing to "
                            f"store the rest of a file that looks misread (--force stores it anyway)")
        report.invalid_dropped = int(bad.sum())
        df = df[~bad]
    if df.empty:
        raise DataError("no valid candles in the input")

    before = len(df)
    df = df.sort_values("timestamp", kind="stable").drop_duplicates("timestamp", keep="last")
    report.duplicates_dropped = before - len(df)
    df = df.reset_index(drop=True)
    report.gaps = find_gaps(df["timestamp"].to_numpy(), step)
    report.rows, report.first, report.last = len(df), int(df["timestamp"].iat[0]), int(df["timestamp"].iat[-1])
    return df, report


def check_frame(df: pd.DataFrame, interval: str, what: str) -> None:
    """A :class:`DataError` naming the first candle of ``df`` that :func:`normalise` would refuse
    (or timestamps out of order), for a frame about to be stored as ``what``."""
    if df.empty:
        raise DataError(f"refusing to store {what}: no candles")
    df = df.reset_index(drop=True)
    _, problem = _invalid_rows(df, interval_seconds(interval))
    if problem:
        raise DataError(f"refusing to store {what}: {problem}")
    ts = df["timestamp"].to_numpy(dtype="float64")
    unordered = np.flatnonzero(np.diff(ts) <= 0)
    if len(unordered):
        row = int(unordered[0]) + 1
        raise DataError(f"refusing to store {what}: {_describe_row(row, ts[row])}: timestamp is not after the "
                        "row before")


def epoch_seconds(value, setting: str) -> int:
    """Epoch seconds from epoch seconds (a number or its text), a date or a date string (UTC
    unless it says otherwise: ``2025-01-01``, ``2025-01-01T12:00``); a :class:`ConfigError`
    naming ``setting`` if it is not one, is before 2009 or lies in the future."""
    shown = value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(\.\d*)?\s*", value):
        value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        try:
            stamp = pd.Timestamp(value)
            stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
            seconds = float(stamp.timestamp())
        except (TypeError, ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
            seconds = math.nan
    if math.isnan(seconds):
        raise ConfigError(f"{setting}: {shown!r} is not a date (2025-01-01, 2025-01-01T12:00 or epoch seconds)")
    if not EARLIEST <= seconds <= time.time() + 86400:
        raise ConfigError(f"{setting}: {shown!r} is {'before 2009' if seconds < EARLIEST else 'in the future'}; "
                          "no candles exist there")
    return int(seconds)


def find_gaps(timestamps: np.ndarray, step: int) -> list[tuple[int, int, int]]:
    """Runs of missing candles in sorted ``timestamps``: (last ts before, first ts after, count)."""
    diffs = np.diff(timestamps)
    where = np.flatnonzero(diffs > step)
    return [(int(timestamps[i]), int(timestamps[i + 1]), int(diffs[i] // step) - 1) for i in where]


def merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Union of two candle frames; where both hold a timestamp, ``new`` wins."""
    both = pd.concat([old, new], ignore_index=True)
    both = both.sort_values("timestamp", kind="stable").drop_duplicates("timestamp", keep="last")
    return both.reset_index(drop=True)


def resample_array(arr: np.ndarray, source_interval: str, target_interval: str) -> np.ndarray:
    """Aggregate a candle array (rows x :data:`COLUMNS`) to a coarser interval.

    Only buckets the source fully spans are kept: a bucket that starts before the first source
    candle or ends after the last one is dropped, so no candle is ever built from a partial
    period (which would leak the future or misstate the open). Gaps inside the data are
    aggregated from the candles that exist.
    """
    src, dst = interval_seconds(source_interval), interval_seconds(target_interval)
    if dst % src or dst < src:
        raise ConfigError(f"cannot build {target_interval} candles from {source_interval} candles")
    if dst == src or len(arr) == 0:
        return arr
    ts = arr[:, 0]
    bucket = ts // dst * dst
    keep = (bucket >= ts[0]) & (bucket + dst - src <= ts[-1])
    arr, bucket = arr[keep], bucket[keep]
    if len(arr) == 0:
        return np.empty((0, len(COLUMNS)))
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(arr)] - 1
    col = {name: i for i, name in enumerate(COLUMNS)}
    out = np.empty((len(starts), len(COLUMNS)))
    out[:, 0] = bucket[starts]
    out[:, col["open"]] = arr[starts, col["open"]]
    out[:, col["close"]] = arr[ends, col["close"]]
    out[:, col["high"]] = np.maximum.reduceat(arr[:, col["high"]], starts)
    out[:, col["low"]] = np.minimum.reduceat(arr[:, col["low"]], starts)
    for name in ("volume", "quote_asset_volume", "n_trades", "taker_buy_base_volume", "taker_buy_quote_volume"):
        out[:, col[name]] = np.add.reduceat(arr[:, col[name]], starts)
    return out


def source_interval_for(available: list[str], target: str) -> str | None:
    """The stored interval to build ``target`` from: itself if stored, else the coarsest finer
    interval that divides it (fewest rows to aggregate), else ``None``."""
    want = interval_seconds(target)
    usable = [i for i in available if i in INTERVAL_SECONDS and want % INTERVAL_SECONDS[i] == 0]
    return max(usable, key=INTERVAL_SECONDS.__getitem__, default=None)


def to_frame(arr: np.ndarray) -> pd.DataFrame:
    """A candle frame from a candle array (rows x :data:`COLUMNS`)."""
    return pd.DataFrame(arr, columns=list(COLUMNS))
