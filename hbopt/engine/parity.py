"""Comparing two backtest results (stock vs turbo): the same executors and the same summary."""
from __future__ import annotations

import math

EXACT_LEDGER_FIELDS = ("side", "timestamp", "close_timestamp", "close_type", "level_id")
CLOSE_LEDGER_FIELDS = ("net_pnl_quote", "net_pnl_pct", "cum_fees_quote", "filled_amount_quote")
SUMMARY_FIELDS = ("net_pnl", "net_pnl_quote", "total_executors", "total_executors_with_position", "total_volume",
                  "total_long", "total_short", "close_types", "accuracy_long", "accuracy_short", "total_positions",
                  "accuracy", "max_drawdown_usd", "max_drawdown_pct", "sharpe_ratio", "profit_factor",
                  "win_signals", "loss_signals", "unrealized_pnl_quote", "position_realized_pnl_quote",
                  "total_fees_quote")


def _close(a, b, rel: float) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)
    return a == b


def differences(expected: dict, actual: dict, rel: float = 1e-9, limit: int = 5) -> list[str]:
    """What differs between two results made with ``ledger=True``: summary metrics and each
    executor in order (count, side, open/close time, close type exactly; PnL, fees and volume to a
    relative ``rel``). An empty list means parity."""
    found = [f"{key}: {expected.get(key)!r} != {actual.get(key)!r}"
             for key in SUMMARY_FIELDS if not _close(expected.get(key), actual.get(key), rel)]
    ours, theirs = expected["executors"], actual["executors"]
    if len(ours) != len(theirs):
        found.append(f"executors: {len(ours)} != {len(theirs)}")
    for n, (a, b) in enumerate(zip(ours, theirs)):
        for key in EXACT_LEDGER_FIELDS + CLOSE_LEDGER_FIELDS:
            if not _close(a[key], b[key], rel if key in CLOSE_LEDGER_FIELDS else 0.0):
                found.append(f"executor {n} {key}: {a[key]!r} != {b[key]!r}")
                break
        if len(found) >= limit:
            break
    return found[:limit]
