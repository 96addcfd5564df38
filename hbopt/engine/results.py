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


def ledger_row(info) -> dict:
    """One executor of a run (a Hummingbot ``ExecutorInfo``) as a flat, JSON-safe record."""
    config = info.config
    return {
        "id": config.id, "side": config.side.name, "timestamp": float(info.timestamp),
        "close_timestamp": None if info.close_timestamp is None else float(info.close_timestamp),
        "close_type": None if info.close_type is None else info.close_type.name,
        "level_id": getattr(config, "level_id", None),
        "net_pnl_quote": float(info.net_pnl_quote), "net_pnl_pct": float(info.net_pnl_pct),
        "cum_fees_quote": float(info.cum_fees_quote), "filled_amount_quote": float(info.filled_amount_quote),
    }
