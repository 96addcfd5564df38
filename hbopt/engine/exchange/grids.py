"""A grid executor under the exchange model, over tick indices ``start..end`` (the creation tick
to the last tick its time limit allows). The levels are Hummingbot's own
(``GridExecutorSimulator._generate_grid_levels``); their orders are placed as Hummingbot's live
``GridExecutor`` places them, and fill as an exchange fills resting orders:

- every free level's entry order is placed at the close (on the creation tick, and again on the
  tick its take profit filled), at its price, or, when that would cross the book, the close moved
  away by ``safe_extra_spread``, as the live executor does; it rests from the next tick and fills
  at its price when the market trades through it by one price increment (maker);
- a filled level's take profit (the level's price moved by its ``take_profit``, or the close moved
  by ``safe_extra_spread`` when that would cross) is placed at the close of its fill's tick and
  fills the same way (maker);
- on each tick, take profits then entries fill from the candle's range; then, on a perpetual
  connector, the open levels are liquidated at their liquidation price (margin = notional over
  the grid's ``leverage``) if the candle reached it;
- then, on the close, as the live executor checks them: the stop loss (the open position's PnL at
  a market exit, both fees paid, at or below ``-stop_loss`` of its notional), the limit price
  (POSITION_HOLD with ``keep_position``, else STOP_LOSS), the time limit (on ``end``) and the take
  profit (the close beyond the grid's far edge) end the grid: its resting orders are cancelled and
  its open levels sold (bought back) by a market order at the slipped close (taker), unless it is
  kept as a position hold.
"""
from __future__ import annotations

from decimal import Decimal

import numba
import numpy as np
from hummingbot.strategy_v2.backtesting.executors_simulator.grid_executor_simulator import GridExecutorSimulator
from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.engine.exchange.costs import unmodelled
from hbopt.engine.exchange.positions import fill_row, slipped

TIME_LIMIT, TAKE_PROFIT, STOP_LOSS, POSITION_HOLD, LIQUIDATION = 0, 1, 2, 3, 4
CLOSE_TYPES = {TIME_LIMIT: CloseType.TIME_LIMIT, TAKE_PROFIT: CloseType.TAKE_PROFIT, STOP_LOSS: CloseType.STOP_LOSS,
               POSITION_HOLD: CloseType.POSITION_HOLD, LIQUIDATION: CloseType.STOP_LOSS}
ENTRY, EXIT, CLOSE_OUT, LIQUIDATED = 0, 1, 2, 3  # fill event kinds
FREE, RESTING, FILLED = 0, 1, 2  # level states


@numba.njit(cache=True)
def _away(price, close, side, safe_spread):
    """An order that buys (``side`` +1) or sells at ``price``, placed where it cannot cross the book."""
    if side * (price - close) >= 0:
        return close * (1.0 - side * safe_spread)
    return price


@numba.njit(cache=True)
def simulate(high, low, close, start, end, side, range_low, range_high, limit_price, keep_position, stop_loss,
             level_prices, tp_prices, level_quotes, safe_spread, increment, maker, taker, slippage,
             leverage, maintenance_margin, liquidation_fee):
    """Returns (close tick, close code, per-row arrays pnl, fees, volume, entries' notional, average
    open price, fill events as rows of (tick, kind, price, order price, amount, fee)). NaN limit
    price or stop loss = not set; ``leverage`` 0 = no margin."""
    n_rows, n = end - start + 1, len(level_prices)
    state = np.zeros(n, dtype=np.int64)
    order = np.zeros(n)
    amount = np.zeros(n)
    entry_fee = np.zeros(n)
    filled_price = np.zeros(n)
    pnl, fees_arr, volume_arr, entries_arr, avg = (np.zeros(n_rows), np.zeros(n_rows), np.zeros(n_rows),
                                                   np.zeros(n_rows), np.zeros(n_rows))
    events = np.empty((16, 6))
    n_events = 0
    realized, fees, volume, entries = 0.0, 0.0, 0.0, 0.0
    code, close_row = TIME_LIMIT, n_rows - 1
    for row in range(n_rows):
        k = start + row
        favourable, adverse = (high[k], low[k]) if side > 0 else (low[k], high[k])
        if row > 0:
            for i in range(n):  # take profits resting since an earlier tick
                if state[i] == FILLED and side * (favourable - order[i]) >= increment:
                    price = order[i]
                    fee = maker * amount[i] * price
                    realized += side * amount[i] * (price - filled_price[i]) - entry_fee[i] - fee
                    fees += fee
                    volume += amount[i] * price
                    events, n_events = _event(events, n_events, k, EXIT, price, price, amount[i], fee)
                    state[i] = FREE
            for i in range(n):  # entries resting since an earlier tick
                if state[i] == RESTING and side * (adverse - order[i]) <= -increment:
                    price = order[i]
                    amount[i] = level_quotes[i] / price
                    entry_fee[i] = maker * amount[i] * price
                    filled_price[i] = price
                    fees += entry_fee[i]
                    volume += amount[i] * price
                    entries += amount[i] * price
                    events, n_events = _event(events, n_events, k, ENTRY, price, price, amount[i], entry_fee[i])
                    state[i] = -FILLED  # filled on this tick: its take profit is placed at the close
        held, cost = 0.0, 0.0
        for i in range(n):
            if state[i] == FILLED or state[i] == -FILLED:
                held += amount[i]
                cost += amount[i] * filled_price[i]
        terminated = False
        if leverage > 0 and held > 0:
            liquidation = cost / held * (1.0 - side * (1.0 / leverage - maintenance_margin))
            if side * (adverse - liquidation) <= 0:
                r, f, v, events, n_events = _close_levels(state, amount, filled_price, entry_fee, side, liquidation,
                                                          liquidation_fee, LIQUIDATED, k, events, n_events)
                realized, fees, volume = realized + r, fees + f, volume + v
                held, cost = 0.0, 0.0
                code, close_row, terminated = LIQUIDATION, row, True
        exit_price = slipped(close[k], -side, slippage)
        open_pnl = side * held * exit_price - side * cost - taker * held * exit_price
        for i in range(n):
            if state[i] == FILLED or state[i] == -FILLED:
                open_pnl -= entry_fee[i]
        if not terminated:
            if not np.isnan(stop_loss) and cost > 0 and open_pnl / cost <= -stop_loss:
                code, terminated = STOP_LOSS, True
            elif not np.isnan(limit_price) and side * (close[k] - limit_price) <= 0:
                code, terminated = (POSITION_HOLD if keep_position else STOP_LOSS), True
            elif row == n_rows - 1:
                code, terminated = TIME_LIMIT, True
            elif (side > 0 and close[k] > range_high) or (side < 0 and close[k] < range_low):
                code, terminated = TAKE_PROFIT, True
            if terminated:
                close_row = row
        if terminated and code != POSITION_HOLD and held > 0:
            r, f, v, events, n_events = _close_levels(state, amount, filled_price, entry_fee, side, exit_price, taker,
                                                      CLOSE_OUT, k, events, n_events)
            realized, fees, volume = realized + r, fees + f, volume + v
            held, cost, open_pnl = 0.0, 0.0, 0.0
        pnl[row] = realized + open_pnl
        fees_arr[row] = fees
        volume_arr[row] = volume
        entries_arr[row] = entries
        avg[row] = cost / held if held > 0 else 0.0
        if terminated:
            break
        for i in range(n):  # orders placed at this close, resting from the next tick
            if state[i] == -FILLED:
                order[i] = _away(tp_prices[i], close[k], -side, safe_spread)
                state[i] = FILLED
            elif state[i] == FREE:
                order[i] = _away(level_prices[i], close[k], side, safe_spread)
                state[i] = RESTING
    rows = close_row + 1
    return (start + close_row, code, pnl[:rows].copy(), fees_arr[:rows].copy(), volume_arr[:rows].copy(),
            entries_arr[:rows].copy(), avg[:rows].copy(), events[:n_events].copy())


@numba.njit(cache=True)
def with_room(events, n_events):
    """``events`` (a row per fill event), doubled when its ``n_events`` rows fill it."""
    if n_events < len(events):
        return events
    grown = np.empty((2 * len(events), events.shape[1]))
    grown[:n_events] = events
    return grown


@numba.njit(cache=True)
def _event(events, n_events, tick, kind, price, order_price, amount, fee):
    events = with_room(events, n_events)
    events[n_events, 0] = tick
    events[n_events, 1] = kind
    events[n_events, 2] = price
    events[n_events, 3] = order_price
    events[n_events, 4] = amount
    events[n_events, 5] = fee
    return events, n_events + 1


@numba.njit(cache=True)
def _close_levels(state, amount, filled_price, entry_fee, side, price, rate, kind, tick, events, n_events):
    """Close every open level at ``price`` paying ``rate`` of its notional: (realised PnL, fees,
    volume) of it, and the events with a ``kind`` event per level."""
    realized, fees, volume = 0.0, 0.0, 0.0
    for i in range(len(state)):
        if state[i] == FILLED or state[i] == -FILLED:
            fee = rate * amount[i] * price
            realized += side * amount[i] * (price - filled_price[i]) - entry_fee[i] - fee
            fees += fee
            volume += amount[i] * price
            events, n_events = _event(events, n_events, tick, kind, price, np.nan, amount[i], fee)
            state[i] = FREE
    return realized, fees, volume, events, n_events


def _optional(value) -> float:
    return float(value) if value else np.nan


class GridLife:
    """One grid executor's life under the exchange model (``config`` a Hummingbot
    ``GridExecutorConfig`` created on tick ``start`` of ``candles``, living at most to ``end``;
    ``trading_rules`` the pair's, for Hummingbot's level generation)."""

    def __init__(self, config, candles, start: int, end: int, costs, increment: float, trading_rules):
        barriers = config.triple_barrier_config
        if not (barriers.open_order_type.is_limit_type() and barriers.take_profit_order_type.is_limit_type()):
            unmodelled("grid (with market orders)")
        mid = Decimal(str(candles.close[start]))
        levels = GridExecutorSimulator._generate_grid_levels(config, mid, trading_rules)
        self.config, self.ts, self.start = config, candles.ts, start
        self.side = 1.0 if config.side.name == "BUY" else -1.0
        prices = [float(level.price) for level in levels]
        tp_prices = [p * (1 + self.side * float(level.take_profit)) for p, level in zip(prices, levels)]
        (self.close, code, self.pnl, self.fees, self.volume, self.entries, self.average, self.events) = simulate(
            candles.high, candles.low, candles.close, start, end, self.side, float(config.start_price), float(config.end_price),
            _optional(config.limit_price), bool(config.keep_position), _optional(barriers.stop_loss),
            np.array(prices, dtype=np.float64), np.array(tp_prices, dtype=np.float64),
            np.array([float(level.amount_quote) for level in levels], dtype=np.float64),
            float(config.safe_extra_spread), increment, costs.maker, costs.taker, costs.slippage,
            float(config.leverage) if costs.perpetual else 0.0, costs.maintenance_margin, costs.liquidation_fee)
        self.code, self.close_type = code, CLOSE_TYPES[code]
        traded = np.flatnonzero(self.volume > 0)
        self.fill = start + int(traded[0]) if len(traded) else -1

    def row(self, tick: int) -> tuple[float, float, float, float]:
        """(net_pnl_pct over the entries' notional, net_pnl_quote, cum_fees_quote, volume so far)."""
        row = tick - self.start
        entries = self.entries[row]
        return (float(self.pnl[row] / entries) if entries > 0 else 0.0, float(self.pnl[row]), float(self.fees[row]),
                float(self.volume[row]))

    def average_price(self, tick: int) -> float:
        return float(self.average[tick - self.start])

    def fills(self) -> list[dict]:
        kinds = {ENTRY: "grid_level", EXIT: "take_profit", LIQUIDATED: "liquidation",
                 CLOSE_OUT: self.close_type.name.lower()}
        rows = []
        for tick, kind, price, order_price, amount, fee in self.events:
            kind = int(kind)
            resting = kind in (ENTRY, EXIT)
            side = self.side if kind == ENTRY else -self.side
            rows.append(fill_row(self.ts[int(tick)], kinds[kind], side, price, float(order_price) if resting else None,
                                 amount, fee, "maker" if resting else "taker"))
        return rows
