"""Position executors simulated on arrays, with exactly the arithmetic of Hummingbot's
``PositionExecutorSimulator`` (same float operations in the same order), so the close tick, close
type and PnL match it bit for bit, without building a DataFrame per executor.

Hummingbot's rules, restated over tick indices ``start..end`` (creation tick to the last tick the
executor may live, ``min(created + time_limit, last tick)``):

- fill: the creation tick for market entries; for limit entries the first tick whose close
  crosses the entry price (never: the executor idles to ``end`` and closes TIME_LIMIT, PnL 0);
- from the fill on, ``pnl = (cumprod(1 + pct_change(close)) - 1) * side - 2 * trade_cost``, 0 before;
- stop loss: the first tick in ``start..end`` (before the fill too) whose low (buy) or high (sell)
  reaches ``fill close * (1 -/+ stop_loss)``;
- take profit: the first tick with ``pnl > take_profit``;
- trailing stop: once ``pnl`` has exceeded the activation, the first tick with
  ``pnl < running max(pnl - delta)``;
- the earliest of these closes it, ties going take profit, stop loss, trailing stop, time limit.
"""
from __future__ import annotations

from decimal import Decimal

import numba
import numpy as np
from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.engine.turbo.runs import NO_TICK, ExecutorRun

# close type codes used on the array side
TAKE_PROFIT, STOP_LOSS, TRAILING_STOP, TIME_LIMIT = 0, 1, 2, 3
CLOSE_TYPES = {TAKE_PROFIT: CloseType.TAKE_PROFIT, STOP_LOSS: CloseType.STOP_LOSS,
               TRAILING_STOP: CloseType.TRAILING_STOP, TIME_LIMIT: CloseType.TIME_LIMIT}


@numba.njit(cache=True)
def _simulate(close, low, high, start, end, is_limit, is_buy, entry_bound, trade_cost,
              take_profit, stop_loss, trailing_trigger, trailing_delta):
    """Returns (fill tick, close tick, close type code); NaN barrier = not set."""
    side = 1.0 if is_buy else -1.0
    fill = NO_TICK
    if not is_limit:
        fill = start
    else:
        for k in range(start, end + 1):
            if (is_buy and close[k] <= entry_bound) or ((not is_buy) and close[k] >= entry_bound):
                fill = k
                break
    if fill == NO_TICK:
        return NO_TICK, end, TIME_LIMIT
    entry = close[fill]
    first_sl = NO_TICK
    if not np.isnan(stop_loss):
        sl_price = entry * (1 - stop_loss * side)
        for k in range(start, end + 1):
            if (is_buy and low[k] <= sl_price) or ((not is_buy) and high[k] >= sl_price):
                first_sl = k
                break
    first_tp = NO_TICK
    first_ts = NO_TICK
    has_tp = not np.isnan(take_profit)
    has_trailing = not np.isnan(trailing_trigger)
    last = end if first_sl == NO_TICK else first_sl  # nothing after the stop loss can close it earlier
    activated = False
    trail = -np.inf
    prod = 1.0
    for k in range(start, last + 1):
        if k < fill:
            pnl = 0.0
        else:
            if k > fill:
                prod = prod * (1 + (close[k] / close[k - 1] - 1))
            pnl = (prod - 1) * side - 2 * trade_cost
        if has_tp and pnl > take_profit:
            first_tp = k
            break
        if has_trailing:
            trail = max(trail, pnl - trailing_delta)
            if pnl > trailing_trigger:
                activated = True
            if activated and pnl < trail:
                first_ts = k
                break
    candidates = (first_tp, first_sl, first_ts)
    close_tick = end
    for c in candidates:
        if c != NO_TICK and c < close_tick:
            close_tick = c
    if first_tp == close_tick:
        return fill, close_tick, TAKE_PROFIT
    if first_sl == close_tick:
        return fill, close_tick, STOP_LOSS
    if first_ts == close_tick:
        return fill, close_tick, TRAILING_STOP
    return fill, close_tick, TIME_LIMIT


@numba.njit(cache=True)
def _cumulative_pnl_pct(close, fill, tick, side, trade_cost):
    prod = 1.0
    for k in range(fill + 1, tick + 1):
        prod = prod * (1 + (close[k] / close[k - 1] - 1))
    return (prod - 1) * side - 2 * trade_cost


def float_bound(value: Decimal, below: bool) -> float:
    """The float ``f`` with ``x <= value  <=>  x <= f`` (``below``) or ``x >= value  <=>  x >= f``:
    Hummingbot compares float closes with a Decimal entry price exactly."""
    f = float(value)
    if below and Decimal(f) > value:
        f = float(np.nextafter(f, -np.inf))
    elif not below and Decimal(f) < value:
        f = float(np.nextafter(f, np.inf))
    return f


def _barrier(value) -> float:
    return float(value) if value else float("nan")


class PositionRun(ExecutorRun):
    """A position executor: fill, close tick and type from :func:`_simulate`, its row's PnL
    recomputed at any tick as the simulator's cumulative product gives it."""

    __slots__ = ("side", "filled", "trade_cost")

    def __init__(self, config, order: int, start: int, end: int, market, trade_cost: float):
        barriers = config.triple_barrier_config
        is_buy = config.side == TradeType.BUY
        is_limit = barriers.open_order_type.is_limit_type()
        entry_bound = float_bound(config.entry_price, below=is_buy) if is_limit else 0.0
        trailing = barriers.trailing_stop
        if trailing and not (trailing.activation_price and trailing.trailing_delta):
            trailing = None  # Hummingbot ignores a trailing stop with a zero activation or delta
        fill, close, code = _simulate(
            market.close, market.low, market.high, start, end, is_limit, is_buy, entry_bound, trade_cost,
            _barrier(barriers.take_profit), _barrier(barriers.stop_loss),
            float(trailing.activation_price) if trailing else float("nan"),
            float(trailing.trailing_delta) if trailing else float("nan"))
        if fill > close:  # stopped out before its limit order filled: nothing traded
            fill = NO_TICK
        super().__init__(config, order, start, close, CLOSE_TYPES[code], fill, market)
        self.side = 1 if is_buy else -1
        self.trade_cost = trade_cost
        self.filled = float(config.amount) * market.close[fill] if fill != NO_TICK else 0.0

    def values_at(self, tick: int) -> tuple[float, float, float, float]:
        """As Hummingbot's simulation frame holds them (volume doubled on the closing tick)."""
        if not self.is_filled_at(tick):
            return 0.0, 0.0, 0.0, 0.0
        pct = _cumulative_pnl_pct(self.market.close, self.fill, tick, self.side, self.trade_cost)
        filled = self.filled * 2 if tick == self.close else self.filled
        return pct, pct * self.filled, 2 * self.trade_cost * self.filled, filled

    def average_price_at(self, tick: int) -> float:
        return float(self.config.entry_price)
