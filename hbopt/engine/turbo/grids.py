"""Grid executors, with exactly the arithmetic of Hummingbot's ``GridExecutorSimulator`` (same
float operations in the same order, levels summed in the order they were entered), compiled.

The levels themselves come from Hummingbot's own ``_generate_grid_levels`` (Decimal, with the
exchange's trading rules when the data provider has them). Its rules, per row of the frame (the
creation tick to ``min(created + time_limit, last tick)``):

- the grid takes profit as a whole when the close leaves the range on the far side (above the end
  price for a buy grid), and stops (POSITION_HOLD with ``keep_position``) at its limit price;
- each entered level whose take-profit price the row's high (buy) or low (sell) reaches is closed
  and realised, then each free level the row's low (buy) or high (sell) reaches is entered (not
  on a row that ended the grid);
- the row's PnL is the realised PnL plus each open level's mark-to-close, less fees on both legs;
- a stop loss on the aggregate PnL over the traded amount ends it on any row, overriding the rest.
"""
from __future__ import annotations

from decimal import Decimal

import numba
import numpy as np
from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.backtesting.executors_simulator.grid_executor_simulator import GridExecutorSimulator
from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.engine.exchange.grids import with_room
from hbopt.engine.turbo.runs import NO_TICK, ExecutorRun

TIME_LIMIT, TAKE_PROFIT, STOP_LOSS, POSITION_HOLD = 0, 1, 2, 3
CLOSE_TYPES = {TIME_LIMIT: CloseType.TIME_LIMIT, TAKE_PROFIT: CloseType.TAKE_PROFIT,
               STOP_LOSS: CloseType.STOP_LOSS, POSITION_HOLD: CloseType.POSITION_HOLD}
ENTRY, EXIT = 0.0, 1.0  # fill event kinds


@numba.njit(cache=True)
def _simulate(close, low, high, start, end, is_buy, start_price, end_price, limit_price, keep_position,
              stop_loss, level_prices, tp_prices, level_amounts, trade_cost):
    """Returns (close tick, close type code, per-row arrays pnl, filled, fees, average price,
    fill events as rows of (row, price, kind, level, amount)). NaN limit/stop loss = not set."""
    side = 1.0 if is_buy else -1.0
    n_rows = end - start + 1
    n_levels = len(level_prices)
    pnl = np.empty(n_rows)  # filled row by row up to the close; the rest is never read
    filled = np.empty(n_rows)
    fees_arr = np.empty(n_rows)
    avg = np.empty(n_rows)
    events = np.empty((16, 5))
    n_events = 0
    entered = np.zeros(n_levels, dtype=np.bool_)
    order = np.empty(n_levels, dtype=np.int64)  # entered levels, in the order they were entered
    n_open = 0
    hit = np.empty(n_levels, dtype=np.bool_)
    realized_pnl = 0.0
    realized_fees = 0.0
    realized_amount = 0.0
    code = TIME_LIMIT
    close_row = n_rows - 1
    terminated = False
    for row in range(n_rows):
        k = start + row
        price = close[k]
        if is_buy and price > end_price:
            code, close_row, terminated = TAKE_PROFIT, row, True
        elif (not is_buy) and price < start_price:
            code, close_row, terminated = TAKE_PROFIT, row, True
        if not terminated and not np.isnan(limit_price):
            if (is_buy and price <= limit_price) or ((not is_buy) and price >= limit_price):
                code = POSITION_HOLD if keep_position else STOP_LOSS
                close_row, terminated = row, True
        kept = 0
        for j in range(n_open):
            level = order[j]
            tp = tp_prices[level]
            hit[j] = (is_buy and high[k] >= tp) or ((not is_buy) and low[k] <= tp)
            if hit[j]:
                entry = level_prices[level]
                amount_quote = level_amounts[level]
                trade_pnl = ((tp - entry) * side) * (amount_quote / entry)
                fees = trade_cost * amount_quote * 2
                trade_pnl -= fees
                realized_pnl += trade_pnl
                realized_fees += fees
                realized_amount += amount_quote
                events, n_events = _event(events, n_events, row, tp, EXIT, level, amount_quote)
        for j in range(n_open):
            if not hit[j]:
                order[kept] = order[j]
                kept += 1
            else:
                entered[order[j]] = False
        n_open = kept
        if not terminated:
            for level in range(n_levels):
                if entered[level]:
                    continue
                if (is_buy and low[k] <= level_prices[level]) or ((not is_buy) and high[k] >= level_prices[level]):
                    entered[level] = True
                    order[n_open] = level
                    n_open += 1
                    events, n_events = _event(events, n_events, row, level_prices[level], ENTRY, level,
                                              level_amounts[level])
        unrealized_pnl = 0.0
        open_amount = 0.0
        weighted_entry = 0.0
        for j in range(n_open):
            entry = level_prices[order[j]]
            amount_quote = level_amounts[order[j]]
            unrealized = (price - entry) * side * (amount_quote / entry)
            unrealized -= trade_cost * amount_quote * 2
            unrealized_pnl += unrealized
            open_amount += amount_quote
            weighted_entry += entry * amount_quote
        if terminated and code == POSITION_HOLD:
            total_pnl, total_amount, total_fees = realized_pnl, realized_amount, realized_fees
        else:
            total_pnl = realized_pnl + unrealized_pnl
            total_amount = realized_amount + open_amount
            total_fees = realized_fees + (trade_cost * open_amount * 2)
        pnl[row] = total_pnl
        filled[row] = total_amount
        fees_arr[row] = total_fees
        if total_amount > 0 and (realized_amount + open_amount) > 0 and weighted_entry > 0:
            avg[row] = weighted_entry / open_amount if open_amount > 0 else 0.0
        else:
            avg[row] = avg[row - 1] if row > 0 else 0.0
        if not np.isnan(stop_loss) and total_amount > 0:
            if total_pnl / total_amount <= -stop_loss:
                code, close_row, terminated = STOP_LOSS, row, True
        if terminated:
            break
    rows = close_row + 1  # copies, so that a grid closing early does not keep its whole window alive
    return start + close_row, code, pnl[:rows].copy(), filled[:rows].copy(), fees_arr[:rows].copy(), \
        avg[:rows].copy(), events[:n_events].copy()


@numba.njit(cache=True)
def _event(events, n_events, row, price, kind, level, amount):
    events = with_room(events, n_events)
    events[n_events, 0] = row
    events[n_events, 1] = price
    events[n_events, 2] = kind
    events[n_events, 3] = level
    events[n_events, 4] = amount
    return events, n_events + 1


def _optional(value) -> float:
    return float(value) if value else float("nan")


class GridRun(ExecutorRun):
    """A grid executor: its frame's rows computed once, read at any tick."""

    __slots__ = ("pnl_pct", "pnl", "filled", "fees", "average", "_events", "_fill_events", "level_prices",
                 "tp_prices", "limit_price")

    def __init__(self, config, order: int, start: int, end: int, market, trade_cost: float, trading_rules):
        mid = Decimal(str(market.close[start]))
        levels = GridExecutorSimulator._generate_grid_levels(config, mid, trading_rules)
        is_buy = config.side == TradeType.BUY
        self.level_prices = [float(level.price) for level in levels]
        self.tp_prices = [price * (1 + float(level.take_profit)) if is_buy else price * (1 - float(level.take_profit))
                          for price, level in zip(self.level_prices, levels)]
        barriers = config.triple_barrier_config
        self.limit_price = float(config.limit_price) if config.limit_price else None
        close, code, pnl, filled, fees, average, events = _simulate(
            market.close, market.low, market.high, start, end, is_buy, float(config.start_price),
            float(config.end_price), _optional(config.limit_price), bool(config.keep_position),
            _optional(barriers.stop_loss), np.array(self.level_prices), np.array(self.tp_prices),
            np.array([float(level.amount_quote) for level in levels]), trade_cost)
        traded = np.flatnonzero(filled > 0)
        super().__init__(config, order, start, close, CLOSE_TYPES[code], start + int(traded[0]) if len(traded)
                         else NO_TICK, market)
        self.pnl_pct = np.divide(pnl, filled, out=np.zeros_like(pnl), where=filled > 0)
        filled[-1] *= 2  # Hummingbot doubles the closing row's volume
        self.pnl, self.filled, self.fees, self.average = pnl, filled, fees, average
        self._events, self._fill_events = events, None

    def values_at(self, tick: int) -> tuple[float, float, float, float]:
        row = tick - self.start
        return (float(self.pnl_pct[row]), float(self.pnl[row]), float(self.fees[row]), float(self.filled[row]))

    def average_price_at(self, tick: int) -> float:
        return float(self.average[tick - self.start])

    def extra_info(self, tick: int) -> dict:
        """Hummingbot's grid simulation reports every fill of the whole run, at any tick."""
        if self._fill_events is None:
            ts = self.market.ts
            self._fill_events = [
                {"timestamp": float(ts[self.start + int(row)]), "price": float(price),
                 "side": "entry" if kind == ENTRY else "tp", "level_idx": int(level), "amount_quote": float(amount)}
                for row, price, kind, level, amount in self._events]
        return {"fill_events": self._fill_events, "grid_level_prices": self.level_prices,
                "grid_tp_prices": self.tp_prices, "grid_side": self.config.side.name,
                "grid_limit_price": self.limit_price}
