"""Hummingbot's ``summarize_results`` recomputed on arrays, for runs without position holds.

Same metrics, same definitions: drawdown and Sharpe ratio from the per-tick PnL series, the rest
from the executors that closed with a non-zero PnL. Sums are exact to a float's precision.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
from hummingbot.core.data_type.common import TradeType


def empty_summary() -> dict:
    """Hummingbot's summary of a run without executors."""
    keys = ("net_pnl", "net_pnl_quote", "total_executors", "total_executors_with_position", "total_volume",
            "total_long", "total_short", "close_types", "accuracy_long", "accuracy_short", "total_positions",
            "accuracy", "max_drawdown_usd", "max_drawdown_pct", "sharpe_ratio", "profit_factor", "win_signals",
            "loss_signals", "unrealized_pnl_quote", "position_realized_pnl_quote", "total_fees_quote")
    return dict.fromkeys(keys, 0)


def summarize(executors_info: list, total_amount_quote: float, pnl_series: np.ndarray) -> dict:
    """The summary of a run's executors (``ExecutorInfo``) and its per-tick total PnL."""
    if not executors_info:
        return empty_summary()
    pnl = np.array([float(e.net_pnl_quote) for e in executors_info])
    filled = np.array([float(e.filled_amount_quote) for e in executors_info])
    long = np.array([e.custom_info["side"] == TradeType.BUY for e in executors_info])
    short = np.array([e.custom_info["side"] == TradeType.SELL for e in executors_info])
    net_pnl_quote = math.fsum(pnl)
    positioned = pnl != 0
    wins, losses = pnl > 0, pnl < 0
    total_long, total_short = int((long & positioned).sum()), int((short & positioned).sum())
    total_positions = int(positioned.sum())
    total_won = math.fsum(pnl[wins])
    total_loss = -math.fsum(pnl[losses])

    peak = np.maximum.accumulate(pnl_series)
    max_drawdown = float((pnl_series - peak).min())
    returns = pnl_series / total_amount_quote
    deviation = returns.std(ddof=1)
    return {
        "net_pnl": net_pnl_quote / total_amount_quote,
        "net_pnl_quote": net_pnl_quote,
        "total_executors": len(executors_info),
        "total_executors_with_position": total_positions,
        "total_volume": math.fsum(filled[positioned]),
        "total_long": total_long,
        "total_short": total_short,
        "close_types": dict(sorted(Counter(e.close_type.name for e in executors_info).items())),
        "accuracy_long": int((long & wins).sum()) / total_long if total_long else 0.0,
        "accuracy_short": int((short & wins).sum()) / total_short if total_short else 0.0,
        "total_positions": total_positions,
        "accuracy": int(wins.sum()) / total_positions if total_positions else 0.0,
        "max_drawdown_usd": max_drawdown,
        "max_drawdown_pct": max_drawdown / total_amount_quote,
        "sharpe_ratio": float(returns.mean() / deviation) if deviation > 0 else 0.0,
        "profit_factor": total_won / total_loss if total_loss > 0 else 1.0,
        "win_signals": int(wins.sum()),
        "loss_signals": int(losses.sum()),
        "unrealized_pnl_quote": 0.0,
        "position_realized_pnl_quote": 0.0,
        "total_fees_quote": math.fsum(float(e.cum_fees_quote) for e in executors_info),
    }
