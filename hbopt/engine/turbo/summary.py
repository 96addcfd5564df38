"""Hummingbot's ``summarize_results`` recomputed without a DataFrame of every executor.

Same metrics, same arithmetic: drawdown and Sharpe ratio from the per-tick PnL series (float),
the rest from the executors' Decimal values, summed left to right as pandas sums an object
column and divided in Decimal, so every figure is identical to Hummingbot's, to the last bit.
Executors that ended in a position hold count only in the executor and close-type counts and
the fees; their PnL is the holds', valued at the final price.
"""
from __future__ import annotations

import functools
import operator
from collections import Counter

import numpy as np
from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.engine.parity import SUMMARY_FIELDS


def empty_summary() -> dict:
    """Hummingbot's summary of a run without executors: every metric 0."""
    return dict.fromkeys(SUMMARY_FIELDS, 0)


def _column_sum(values: list):
    """Sum as pandas sums a column of Decimals: left to right from the first value; 0 if none."""
    return functools.reduce(operator.add, values) if values else 0


def summarize(executors_info: list, total_amount_quote: float, pnl_series: np.ndarray, position_holds: list,
              final_price) -> dict:
    """The summary of a run's executors (``ExecutorInfo``), its per-tick total PnL and its
    position holds (Hummingbot's ``BacktestPositionHold``) valued at ``final_price``."""
    if not executors_info:
        return empty_summary()
    closed = [e for e in executors_info if e.close_type != CloseType.POSITION_HOLD]
    positioned = [e for e in closed if e.net_pnl_quote != 0]
    wins = [e.net_pnl_quote for e in positioned if e.net_pnl_quote > 0]
    losses = [e.net_pnl_quote for e in positioned if e.net_pnl_quote < 0]
    total_long = sum(1 for e in positioned if e.custom_info["side"] == TradeType.BUY)
    total_short = sum(1 for e in positioned if e.custom_info["side"] == TradeType.SELL)
    correct_long = sum(1 for e in positioned if e.custom_info["side"] == TradeType.BUY and e.net_pnl_quote > 0)
    correct_short = sum(1 for e in positioned if e.custom_info["side"] == TradeType.SELL and e.net_pnl_quote > 0)
    held_realized = held_unrealized = 0.0
    if position_holds and final_price is not None:
        for hold in position_holds:
            summary = hold.get_position_summary(final_price)
            held_realized += float(summary.realized_pnl_quote)
            held_unrealized += float(summary.unrealized_pnl_quote)
    net_pnl_quote = float(_column_sum([e.net_pnl_quote for e in closed])) + held_realized
    total_won = _column_sum(wins)
    total_loss = -_column_sum(losses)

    peak = np.maximum.accumulate(pnl_series)
    max_drawdown = float((pnl_series - peak).min())
    returns = pnl_series / total_amount_quote
    deviation = returns.std(ddof=1)
    return {
        "net_pnl": net_pnl_quote / total_amount_quote,
        "net_pnl_quote": net_pnl_quote,
        "total_executors": len(executors_info),
        "total_executors_with_position": len(positioned),
        "total_volume": float(_column_sum([e.filled_amount_quote for e in positioned])),
        "total_long": total_long,
        "total_short": total_short,
        "close_types": dict(sorted(Counter(e.close_type.name for e in executors_info).items())),
        "accuracy_long": correct_long / total_long if total_long else 0.0,
        "accuracy_short": correct_short / total_short if total_short else 0.0,
        "total_positions": len(positioned),
        "accuracy": len(wins) / len(positioned) if positioned else 0.0,
        "max_drawdown_usd": max_drawdown,
        "max_drawdown_pct": max_drawdown / total_amount_quote,
        "sharpe_ratio": float(returns.mean() / deviation) if deviation > 0 else 0.0,
        "profit_factor": float(total_won / total_loss) if total_loss > 0 else 1.0,
        "win_signals": len(wins),
        "loss_signals": len(losses),
        "unrealized_pnl_quote": held_unrealized,
        "position_realized_pnl_quote": held_realized,
        "total_fees_quote": float(_column_sum([e.cum_fees_quote for e in executors_info])),
    }
