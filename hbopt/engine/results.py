"""Turning Hummingbot's results into compact, JSON-safe records."""
from __future__ import annotations

import enum
import math
from decimal import Decimal

import numpy as np


def json_safe(value):
    """``value`` with Decimals and numpy scalars as floats/ints, enums as names, and non-finite
    floats (a zero-variance Sharpe ratio is ``inf``) as ``None``, so any JSON encoder takes it."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, Decimal, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


LEDGER_FIELDS = ("id", "side", "timestamp", "close_timestamp", "close_type", "level_id",
                 "net_pnl_quote", "net_pnl_pct", "cum_fees_quote", "filled_amount_quote")


def ledger_row(info) -> dict:
    """One executor of a run (a Hummingbot ``ExecutorInfo``) as a flat record."""
    return json_safe({
        "id": info.config.id, "side": info.config.side, "timestamp": info.timestamp,
        "close_timestamp": info.close_timestamp, "close_type": info.close_type,
        "level_id": getattr(info.config, "level_id", None),
        "net_pnl_quote": info.net_pnl_quote, "net_pnl_pct": info.net_pnl_pct,
        "cum_fees_quote": info.cum_fees_quote, "filled_amount_quote": info.filled_amount_quote,
    })
