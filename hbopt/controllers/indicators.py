"""Indicator helpers shared by the built-in controllers (plain pandas, no look-ahead)."""
from __future__ import annotations

import pandas as pd

from hbopt.cache.candles import interval_seconds

#: Finest execution resolution hbopt runs; see :func:`stamp_at_close`.
BASE_RESOLUTION_SECONDS = 60


def stamp_at_close(features: pd.DataFrame, interval: str) -> pd.DataFrame:
    """Re-stamp indicator rows computed on ``interval`` candles so that a tick only sees candles
    that have closed.

    Hummingbot stamps a candle with its open time, and the backtesting engine merges features
    onto each execution tick by timestamp. A 1m tick stamped ``t`` trades at the close of its own
    candle (``t + 1m``), so a candle opened at ``o`` becomes known on the tick stamped
    ``o + interval - 1m``. Same-interval features keep their stamp; coarser ones move later.
    """
    shift = interval_seconds(interval) - BASE_RESOLUTION_SECONDS
    if shift <= 0:
        return features
    return features.assign(timestamp=features["timestamp"] + shift)


def latest_closed(features: pd.DataFrame, now: float | None, column: str, default=0):
    """``column`` of the last feature row visible at time ``now`` (all rows when ``now`` is None)."""
    if features.empty:
        return default
    if now is not None:
        features = features[features["timestamp"] <= now]
    return features[column].iat[-1] if len(features) else default
