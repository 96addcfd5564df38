"""Comparing two backtest results (stock vs turbo): the same executors and the same summary."""
from __future__ import annotations

LEDGER_FIELDS = ("side", "timestamp", "close_timestamp", "close_type", "level_id",
                 "net_pnl_quote", "net_pnl_pct", "cum_fees_quote", "filled_amount_quote")
SUMMARY_FIELDS = ("net_pnl", "net_pnl_quote", "total_executors", "total_executors_with_position", "total_volume",
                  "total_long", "total_short", "close_types", "accuracy_long", "accuracy_short", "total_positions",
                  "accuracy", "max_drawdown_usd", "max_drawdown_pct", "sharpe_ratio", "profit_factor",
                  "win_signals", "loss_signals", "unrealized_pnl_quote", "position_realized_pnl_quote",
                  "total_fees_quote")


def differences(expected: dict, actual: dict, limit: int = 5) -> list[str]:
    """What differs between two results made with ``ledger=True``: every summary metric, the
    account, the PnL series, the fills and every field of each executor, in order, compared exactly
    (a float equal to the last bit). An empty list means parity."""
    found = [f"{key}: {expected.get(key)!r} != {actual.get(key)!r}"
             for key in SUMMARY_FIELDS + ("account", "pnl") if expected.get(key) != actual.get(key)]
    fills, their_fills = _numbered(expected["ledger"]), _numbered(actual["ledger"])
    if fills != their_fills:
        first = next((n for n, (a, b) in enumerate(zip(fills, their_fills)) if a != b), min(len(fills), len(their_fills)))
        shown = [f[first] if first < len(f) else None for f in (fills, their_fills)]
        found.append(f"fill {first} of {len(fills)} / {len(their_fills)} differs: {shown[0]} != {shown[1]}")
    ours, theirs = expected["ledger"]["executors"], actual["ledger"]["executors"]
    if len(ours) != len(theirs):
        found.append(f"executors: {len(ours)} != {len(theirs)}")
    for n, (a, b) in enumerate(zip(ours, theirs)):
        for key in LEDGER_FIELDS:
            if a[key] != b[key]:
                found.append(f"executor {n} {key}: {a[key]!r} != {b[key]!r}")
                break
        if len(found) >= limit:
            break
    return found[:limit]


def _numbered(ledger: dict) -> list[dict]:
    """The ledger's fills with each executor's id (random per run) as its place among the executors."""
    place = {e["id"]: n for n, e in enumerate(ledger["executors"])}
    return [{**f, "executor": place.get(f["executor"], f["executor"])} for f in ledger["fills"]]
