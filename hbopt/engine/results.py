"""Turning Hummingbot's results into compact, JSON-safe records."""
from __future__ import annotations

import enum
import math
from decimal import Decimal

import numpy as np
from hummingbot.strategy_v2.models.executors import CloseType


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


def held_fees(executors) -> float:
    """The fees of the executors (``ExecutorInfo``) that ended in a position hold: Hummingbot's net
    PnL counts the hold's realised PnL without them."""
    return float(sum((e.cum_fees_quote for e in executors if e.close_type == CloseType.POSITION_HOLD), Decimal(0)))


def equity_pnl(executors, summary: dict) -> float:
    """The PnL an account would see: Hummingbot's ``net_pnl_quote``, plus what position holds
    still open at the end are worth (``unrealized_pnl_quote``), less the fees of the executors that
    ended in a hold. ``net_pnl_quote`` itself for a run without position holds."""
    return float(summary["net_pnl_quote"]) + float(summary["unrealized_pnl_quote"]) - held_fees(executors)


def account_pnl(result: dict) -> float | None:
    """A result's (or a validation row's) PnL as an account sees it: its ``equity_pnl_quote``, or
    ``net_pnl_quote`` for one recorded before that existed."""
    return result.get("equity_pnl_quote", result.get("net_pnl_quote"))


PNL_PERIODS = (86400, 14400, 3600)  # a day, 4 hours, an hour
MIN_PNL_PERIODS = 64


def pnl_period(seconds: float) -> int:
    """The period of a window's PnL series: the longest of a day, 4 h and 1 h that still cuts
    ``seconds`` into at least 64 periods (an hour for shorter windows)."""
    return next((p for p in PNL_PERIODS if seconds / p >= MIN_PNL_PERIODS), PNL_PERIODS[-1])


def pnl_series(pnl_timeseries, start: int, end: int, net_pnl_quote: float) -> dict:
    """A run's PnL per period from the start of its window: ``{"period": s, "values": [...]}``.

    Each period gets the change of Hummingbot's running total PnL (``pnl_timeseries``, realised
    when an executor closes) over the ticks inside it; the last period also gets what is still
    open at the end, so the values sum to ``net_pnl_quote``."""
    if isinstance(pnl_timeseries, dict):  # the turbo engine's arrays
        totals = np.asarray(pnl_timeseries["total_pnl"], dtype=float)
        stamps = np.asarray(pnl_timeseries["timestamp"], dtype=float)[:len(totals)]
    else:  # Hummingbot's list of per-tick records
        stamps = np.array([p["timestamp"] for p in pnl_timeseries], dtype=float)
        totals = np.array([p["total_pnl"] for p in pnl_timeseries], dtype=float)
    period = pnl_period(end - start)
    edges = start + period * np.arange(1, max(1, -(-(end - start) // period)) + 1)
    last_tick = np.searchsorted(stamps, edges, side="left") - 1  # the last tick before each edge
    running = np.where(last_tick >= 0, totals[np.maximum(last_tick, 0)] if len(totals) else 0.0, 0.0)
    values = np.diff(running, prepend=0.0)
    values[-1] += float(net_pnl_quote or 0.0) - (running[-1] if len(running) else 0.0)
    return {"period": period, "values": [round(float(v), 6) for v in values]}
