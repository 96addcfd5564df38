"""Funding rates of perpetual pairs: the series' layout, its validation, and a synthetic series.

A funding frame is a ``pandas.DataFrame`` with exactly :data:`COLUMNS`: ``timestamp`` in epoch
seconds (the funding time), sorted, without duplicates, and ``rate`` as a fraction of the
position's notional per funding (Binance's ``0.00010000`` is 0.01%); longs pay positive rates.
It is stored beside the candles of its pair under the interval :data:`FUNDING`.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from hbopt.cache.candles import EARLIEST, to_seconds
from hbopt.errors import DataError

FUNDING = "funding"
COLUMNS = ("timestamp", "rate")
MAX_RATE = 0.1  # per funding; Binance caps its rates at a few tenths of a percent, so more is a misread file
SYNTH_HOURS = 8
_INTEREST = 0.0001   # Binance's interest component: 0.01% per 8 hours, longs paying
_PREMIUM_PERSISTENCE, _PREMIUM_PER_RETURN, _PREMIUM_NOISE, _SYNTH_CAP = 0.8, 0.01, 2e-5, 0.003


def is_perpetual(connector: str) -> bool:
    """Whether ``connector`` is a perpetual one (Hummingbot names them ``*_perpetual``)."""
    return connector.endswith("_perpetual")


def normalise(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Validate a raw frame with ``timestamp`` and ``rate`` columns and turn it into a funding
    frame: timestamps in s, ms, µs or ns become seconds (rounded to the second), rows are sorted
    and de-duplicated (the last wins). A missing or misread row is a :class:`DataError` naming it.

    Returns the frame and a report: rows, first, last, converted_from_ms, duplicates_dropped,
    interval_hours (the most common spacing of the funding times)."""
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"missing funding column(s) {', '.join(missing)}; found {', '.join(map(str, raw.columns))}")
    raw = raw.reset_index(drop=True)
    seconds, converted = to_seconds(raw["timestamp"])
    df = pd.DataFrame({"timestamp": np.round(seconds), "rate": pd.to_numeric(raw["rate"], errors="coerce")},
                      columns=list(COLUMNS)).astype("float64")
    _check_rows(df, "the input")
    before = len(df)
    df = df.sort_values("timestamp", kind="stable").drop_duplicates("timestamp", keep="last").reset_index(drop=True)
    report = {"rows": len(df), "first": int(df["timestamp"].iat[0]), "last": int(df["timestamp"].iat[-1]),
              "converted_from_ms": converted, "duplicates_dropped": before - len(df),
              "interval_hours": interval_hours(df["timestamp"].to_numpy())}
    return df, report


def check_frame(df: pd.DataFrame, what: str) -> None:
    """A :class:`DataError` naming the first row of ``df`` :func:`normalise` would refuse, or the
    first out of order, for a funding frame about to be stored as ``what``."""
    _check_rows(df, what)
    ts = df["timestamp"].to_numpy(dtype="float64")
    unordered = np.flatnonzero(np.diff(ts) <= 0)
    if len(unordered):
        raise DataError(f"refusing to store {what}: funding row {int(unordered[0]) + 2} is not after the row before")


def _check_rows(df: pd.DataFrame, what: str) -> None:
    if df.empty:
        raise DataError(f"no funding rates in {what}")
    ts, rate = (df[c].to_numpy(dtype="float64") for c in COLUMNS)
    with np.errstate(invalid="ignore"):
        fine = [("timestamp is missing or not a number", np.isfinite(ts)),
                ("timestamp is before 2009", ts >= EARLIEST),
                ("timestamp is in the future", ts <= time.time() + 86400),
                ("rate is missing or not a finite number", np.isfinite(rate)),
                (f"rate is {MAX_RATE:g} or more of the notional per funding (a percentage, not a fraction?)",
                 np.abs(rate) < MAX_RATE)]
    bad = ~np.logical_and.reduce([ok for _, ok in fine])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        problem = next(text for text, ok in fine if not ok[row])
        raise DataError(f"{what}: funding row {row + 1} (timestamp {ts[row]:.0f}): {problem}")


def interval_hours(timestamps: np.ndarray) -> float | None:
    """The most common spacing of funding times, in hours (``None`` for fewer than two)."""
    if len(timestamps) < 2:
        return None
    gaps, counts = np.unique(np.diff(timestamps), return_counts=True)
    return float(gaps[np.argmax(counts)] / 3600)


def synthesise(candles: pd.DataFrame, seed: int, regime: str) -> pd.DataFrame:
    """A plausible funding series for a synthetic perpetual pair's ``candles``: every 8 hours,
    Binance's 0.01% interest plus a premium that follows the last 8 hours' move (longs pay more
    after a rally) and persists, capped at ±0.3%. Deterministic for a seed. On the ``walk`` and
    ``revert`` markets, built to hold no edge but the one they name, every rate is 0."""
    step = SYNTH_HOURS * 3600
    ts = candles["timestamp"].to_numpy(dtype="float64")
    times = np.arange(-(-ts[0] // step) * step, ts[-1] + 1, step)
    if regime in ("walk", "revert"):
        return pd.DataFrame({"timestamp": times, "rate": np.zeros(len(times))}, columns=list(COLUMNS))
    prices = candles["open"].to_numpy(dtype="float64")[np.searchsorted(ts, times)]  # the price at each time
    moves = np.diff(np.log(prices), prepend=np.log(prices[0]))
    noise = np.random.default_rng([seed, 8]).normal(0.0, _PREMIUM_NOISE, len(times))
    premium, rates = 0.0, np.empty(len(times))
    for i, (move, shock) in enumerate(zip(moves, noise)):
        premium = _PREMIUM_PERSISTENCE * premium + _PREMIUM_PER_RETURN * move + shock
        rates[i] = np.clip(_INTEREST + premium, -_SYNTH_CAP, _SYNTH_CAP)
    return pd.DataFrame({"timestamp": times, "rate": rates}, columns=list(COLUMNS))
