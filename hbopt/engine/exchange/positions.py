"""A position executor under the exchange model, over tick indices ``start..end`` (the creation
tick to the last tick its time limit allows). One compiled function decides its life, for both
engines: hbopt's stock engine (through :class:`hbopt.engine.exchange.simulators.ExchangeSimulator`)
and turbo.

Entry, placed at the close of ``start``:

- a market entry fills there, at the close moved against it by the slippage (taker);
- a limit entry rests from the next tick and fills at its own price on the first tick the market
  trades through it by at least one price increment (a buy: the low at or below the price less
  one increment; a sell: the high at or above the price plus one), at the maker rate; a plain
  limit that would cross when placed fills at once as a taker, at the slipped close capped by its
  price; a limit-maker that would cross is rejected (nothing trades);
- not filled by ``end``: it closes there unfilled (TIME_LIMIT), as in Hummingbot.

Exits, checked from the tick after the fill, in this order on each tick (the conservative one:
what hurts first wins when one candle reaches several):

1. liquidation (perpetual connectors, margin = notional / leverage): the low (long) reaches the
   price where the loss is the margin less the maintenance margin; filled at that price, with the
   liquidation fee; taken before a stop that lies beyond it or that the open gapped past it;
2. stop loss: the low (long) or high (short) reaches the fill price moved by ``stop_loss``; a
   market order at that price, or at the open when the candle opened beyond it, slipped, taker;
3. take profit as a limit order: rests at the fill price moved by ``take_profit`` and fills at that
   price when the market trades through it by one increment, maker;
4. take profit as a market order, and the trailing stop: on the close, as the executor watches it:
   the net PnL (both legs' fees, the exit slipped, at the taker rate) above ``take_profit``; the
   trailing stop armed when it exceeds the activation, then closing when it falls below its best
   less the delta; a market exit at the slipped close, taker;
5. time limit: on ``end``, a market exit at the slipped close, taker.
"""
from __future__ import annotations

import numba
import numpy as np
from hummingbot.strategy_v2.models.executors import CloseType

NO_TICK = -1
MARKET, LIMIT, LIMIT_MAKER = 0, 1, 2  # entry order kinds
TAKE_PROFIT, STOP_LOSS, TRAILING_STOP, TIME_LIMIT, LIQUIDATION, REJECTED = 0, 1, 2, 3, 4, 5
EXIT_KINDS = {TAKE_PROFIT: "take_profit", STOP_LOSS: "stop_loss", TRAILING_STOP: "trailing_stop",
              TIME_LIMIT: "time_limit", LIQUIDATION: "liquidation"}
# Hummingbot has no close type for a liquidation: it reports one as the loss barrier it is (the
# ledger says ``liquidation``); a rejected entry fails, as a live executor whose order fails does.
CLOSE_TYPES = {TAKE_PROFIT: CloseType.TAKE_PROFIT, STOP_LOSS: CloseType.STOP_LOSS,
               TRAILING_STOP: CloseType.TRAILING_STOP, TIME_LIMIT: CloseType.TIME_LIMIT,
               LIQUIDATION: CloseType.STOP_LOSS, REJECTED: CloseType.FAILED}


@numba.njit(cache=True)
def slipped(price, side, slippage):
    """A market order's price: ``price`` moved against a buy (``side`` +1) or a sell (-1)."""
    return price * (1.0 + side * slippage)


@numba.njit(cache=True)
def traded_through(high, low, first, last, side, price, increment):
    """The first tick of ``first..last`` on which the market traded through a resting order at
    ``price`` by one ``increment`` (a buy: the low at or below the price less it; a sell: the high
    at or above the price plus it), or NO_TICK."""
    for k in range(first, last + 1):
        if (side > 0 and low[k] <= price - increment) or (side < 0 and high[k] >= price + increment):
            return k
    return NO_TICK


@numba.njit(cache=True)
def crosses(price, side, close):
    """Whether a limit order at ``price`` would cross the book when placed at ``close``: a buy at or
    above it, a sell at or below it."""
    return side * (price - close) >= 0


@numba.njit(cache=True)
def taken(close, side, slippage, limit):
    """What a limit order that crosses when placed fills at, as a taker: the slipped close, never
    worse than its limit."""
    price = slipped(close, side, slippage)
    return min(price, limit) if side > 0 else max(price, limit)


@numba.njit(cache=True)
def net_pnl_quote(price, exit_price, amount, side, entry_fee, taker):
    """A position's PnL closed at ``exit_price`` by a taker order, both fees paid."""
    return side * amount * (exit_price - price) - entry_fee - taker * amount * exit_price


@numba.njit(cache=True)
def simulate(open_, high, low, close, start, end, side, entry_kind, entry_price, amount, increment,
             take_profit, tp_is_limit, stop_loss, trailing_trigger, trailing_delta,
             maker, taker, slippage, leverage, maintenance_margin, liquidation_fee):
    """Returns (fill tick, fill price, entry fee, close tick, close code, exit price, exit fee,
    exit is maker); NaN barriers are not set; ``leverage`` 0 means no margin (spot)."""
    fill, price, entry_fee = NO_TICK, 0.0, 0.0
    if entry_kind == MARKET:
        fill, price = start, slipped(close[start], side, slippage)
        entry_fee = taker * amount * price
    elif crosses(entry_price, side, close[start]):
        if entry_kind == LIMIT_MAKER:
            return NO_TICK, entry_price, 0.0, start, REJECTED, 0.0, 0.0, False
        fill, price = start, taken(close[start], side, slippage, entry_price)
        entry_fee = taker * amount * price
    else:
        fill = traded_through(high, low, start + 1, end, side, entry_price, increment)
        price, entry_fee = entry_price, maker * amount * entry_price
    if fill == NO_TICK:
        return NO_TICK, 0.0, 0.0, end, TIME_LIMIT, 0.0, 0.0, False

    stop = price * (1.0 - side * stop_loss) if not np.isnan(stop_loss) else np.nan
    target = price * (1.0 + side * take_profit) if not np.isnan(take_profit) else np.nan
    liquidation = np.nan
    if leverage > 0:
        liquidation = price * (1.0 - side * (1.0 / leverage - maintenance_margin))
    armed, best = False, -np.inf
    for k in range(fill + 1, end + 1):
        adverse = low[k] if side > 0 else high[k]
        favourable = high[k] if side > 0 else low[k]
        if not np.isnan(liquidation) and side * (adverse - liquidation) <= 0 and (
                np.isnan(stop) or side * (stop - liquidation) <= 0 or side * (open_[k] - liquidation) <= 0):
            return fill, price, entry_fee, k, LIQUIDATION, liquidation, liquidation_fee * amount * liquidation, False
        if not np.isnan(stop) and side * (adverse - stop) <= 0:
            at = open_[k] if side * (open_[k] - stop) <= 0 else stop
            exit_price = slipped(at, -side, slippage)
            return fill, price, entry_fee, k, STOP_LOSS, exit_price, taker * amount * exit_price, False
        if tp_is_limit and not np.isnan(target) and side * (favourable - target) >= increment:
            return fill, price, entry_fee, k, TAKE_PROFIT, target, maker * amount * target, True
        exit_price = slipped(close[k], -side, slippage)
        pnl = net_pnl_quote(price, exit_price, amount, side, entry_fee, taker) / (amount * price)
        if not tp_is_limit and not np.isnan(take_profit) and pnl > take_profit:
            return fill, price, entry_fee, k, TAKE_PROFIT, exit_price, taker * amount * exit_price, False
        if not np.isnan(trailing_trigger):
            if armed and pnl < best:
                return fill, price, entry_fee, k, TRAILING_STOP, exit_price, taker * amount * exit_price, False
            if armed:
                best = max(best, pnl - trailing_delta)
            elif pnl > trailing_trigger:
                armed, best = True, pnl - trailing_delta
        if k == end:
            return fill, price, entry_fee, k, TIME_LIMIT, exit_price, taker * amount * exit_price, False
    # filled on ``end`` itself: nothing left to close it but the time limit, on that same tick
    exit_price = slipped(close[end], -side, slippage)
    return fill, price, entry_fee, end, TIME_LIMIT, exit_price, taker * amount * exit_price, False


def _barrier(value) -> float:
    return float(value) if value else np.nan


def _order_kind(order_type) -> int:
    if not order_type.is_limit_type():
        return MARKET
    return LIMIT_MAKER if order_type.name == "LIMIT_MAKER" else LIMIT


class PositionLife:
    """One position executor's life under the exchange model (``config`` a Hummingbot
    ``PositionExecutorConfig``, created on tick ``start`` of ``candles`` (arrays ``ts``, ``open``,
    ``high``, ``low``, ``close``) and living at most to ``end``): its fill and close
    (:func:`simulate`), its fills as the ledger lists them and the state Hummingbot's engine reads
    at a tick (:meth:`row`)."""

    def __init__(self, config, candles, start: int, end: int, costs, increment: float):
        barriers, trailing = config.triple_barrier_config, config.triple_barrier_config.trailing_stop
        if trailing and not (trailing.activation_price and trailing.trailing_delta):
            trailing = None  # a trailing stop with a zero activation or delta is none, as in Hummingbot
        self.config, self.ts, self.close_prices, self.start = config, candles.ts, candles.close, start
        self.side = 1.0 if config.side.name == "BUY" else -1.0
        self.amount, self.taker, self.slippage = float(config.amount), costs.taker, costs.slippage
        self.entry_kind = _order_kind(barriers.open_order_type)
        (self.fill, self.price, self.entry_fee, self.close, self.code, self.exit_price, self.exit_fee,
         self.exit_maker) = simulate(
            candles.open, candles.high, candles.low, candles.close, start, end, self.side, self.entry_kind, float(config.entry_price or 0.0),
            self.amount, increment, _barrier(barriers.take_profit), barriers.take_profit_order_type.is_limit_type(),
            _barrier(barriers.stop_loss), float(trailing.activation_price) if trailing else np.nan,
            float(trailing.trailing_delta) if trailing else np.nan, costs.maker, costs.taker, costs.slippage,
            float(config.leverage) if costs.perpetual else 0.0, costs.maintenance_margin, costs.liquidation_fee)

    @property
    def filled(self) -> bool:
        return self.fill != NO_TICK

    @property
    def close_type(self) -> CloseType:
        return CLOSE_TYPES[self.code]

    def row(self, tick: int) -> tuple[float, float, float, float]:
        """(net_pnl_pct, net_pnl_quote, cum_fees_quote, filled_amount_quote) at ``tick``: nothing
        before the fill; while open, the PnL of a market exit at that close (slipped, taker fee);
        on the close tick, what the exit made, and both legs' volume."""
        if not self.filled or tick < self.fill:
            return 0.0, 0.0, 0.0, 0.0
        notional = self.amount * self.price
        if tick == self.close:
            quote = self.side * self.amount * (self.exit_price - self.price) - self.entry_fee - self.exit_fee
            return quote / notional, quote, self.entry_fee + self.exit_fee, notional + self.amount * self.exit_price
        exit_price = slipped(self.close_prices[tick], -self.side, self.slippage)
        quote = net_pnl_quote(self.price, exit_price, self.amount, self.side, self.entry_fee, self.taker)
        return quote / notional, quote, self.entry_fee, notional

    def average_price(self, tick: int) -> float:
        return self.price if self.filled and tick >= self.fill else float(self.config.entry_price or 0.0)

    def fills(self) -> list[dict]:
        """The ledger's rows of this life (``custom_info["fills"]``): the entry and the exit, or
        the rejection of a limit-maker entry that would have crossed."""
        resting = self.entry_kind != MARKET
        order_price = float(self.config.entry_price) if resting else None
        if self.code == REJECTED:
            return [fill_row(self.ts[self.start], "rejected", self.side, self.price, order_price, 0.0, 0.0, "maker")]
        if not self.filled:
            return []
        rows = [fill_row(self.ts[self.fill], "entry", self.side, self.price, order_price, self.amount, self.entry_fee,
                         "maker" if resting and self.fill > self.start else "taker")]
        rows.append(fill_row(self.ts[self.close], EXIT_KINDS[self.code], -self.side, self.exit_price,
                             self.exit_price if self.exit_maker else None, self.amount, self.exit_fee,
                             "maker" if self.exit_maker else "taker"))
        return rows


def fill_row(timestamp, kind: str, side: float, price: float, order_price, amount: float, fee: float,
             liquidity: str) -> dict:
    """A fill as an executor's ``custom_info["fills"]`` carries it to the account."""
    return {"timestamp": float(timestamp), "kind": kind, "side": int(side), "price": float(price),
            "order_price": order_price, "amount": float(amount), "fee_quote": float(fee), "liquidity": liquidity}
