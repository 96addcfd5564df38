"""An order executor under the exchange model, from its creation tick ``start`` to the run's
last tick (an order executor has no time limit):

- MARKET: fills at the creation tick's close moved against it by the slippage, taker;
- LIMIT_CHASER: re-posts at the best price until filled: at the creation tick's close, maker;
- LIMIT and LIMIT_MAKER: rest from the next tick and fill at their own price on the first tick
  the market trades through it by one price increment, maker; placed across the book, a LIMIT
  fills at once as a taker (the slipped close, never worse than its price) and a LIMIT_MAKER is
  rejected (FAILED, nothing trades, the ledger says ``rejected``);
- a filled order closes on its fill tick as POSITION_HOLD, the inventory left to the account; one
  never filled rests to the last tick and closes there EXPIRED.
"""
from __future__ import annotations

from hummingbot.strategy_v2.executors.order_executor.data_types import ExecutionStrategy
from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.engine.exchange.positions import NO_TICK, crosses, fill_row, slipped, taken, traded_through


class OrderLife:
    """One order executor's life (``config`` a Hummingbot ``OrderExecutorConfig`` created on tick
    ``start`` of ``candles``, the run ending on ``last``): its fill, close and ledger rows."""

    def __init__(self, config, candles, start: int, last: int, costs, increment: float):
        self.config, self.ts, self.start = config, candles.ts, start
        high, low, close = candles.high, candles.low, candles.close
        side = 1.0 if config.side.name == "BUY" else -1.0
        strategy, limit = config.execution_strategy, float(config.price or 0.0)
        self.side, self.amount, self.order_price = side, float(config.amount), None
        self.fill, self.price, self.maker, self.close, self.close_type = NO_TICK, 0.0, False, last, CloseType.EXPIRED
        if strategy == ExecutionStrategy.MARKET:
            self.fill, self.price = start, slipped(close[start], side, costs.slippage)
        elif strategy == ExecutionStrategy.LIMIT_CHASER:
            self.fill, self.price, self.maker = start, float(close[start]), True
        else:
            self.order_price = limit
            if not crosses(limit, side, close[start]):
                self.fill, self.price, self.maker = traded_through(high, low, start + 1, last, side, limit,
                                                                   increment), limit, True
            elif strategy == ExecutionStrategy.LIMIT_MAKER:
                self.close, self.close_type, self.price = start, CloseType.FAILED, limit
            else:
                self.fill, self.price = start, taken(close[start], side, costs.slippage, limit)
        self.fee = (costs.maker if self.maker else costs.taker) * self.amount * self.price
        if self.fill != NO_TICK:
            self.close, self.close_type = self.fill, CloseType.POSITION_HOLD

    def row(self, tick: int) -> tuple[float, float, float, float]:
        """(net_pnl_pct, net_pnl_quote, cum_fees_quote, filled_amount_quote): the fee and the
        volume once filled, no PnL of its own (the engine moves it into a position hold)."""
        if self.fill == NO_TICK or tick < self.fill:
            return 0.0, 0.0, 0.0, 0.0
        return 0.0, 0.0, self.fee, self.amount * self.price

    def average_price(self, tick: int) -> float:
        return self.price if self.fill != NO_TICK and tick >= self.fill else 0.0

    def fills(self) -> list[dict]:
        if self.close_type == CloseType.FAILED:
            return [fill_row(self.ts[self.start], "rejected", self.side, self.price, self.order_price, 0.0, 0.0,
                             "maker")]
        if self.fill == NO_TICK:
            return []
        return [fill_row(self.ts[self.fill], "order", self.side, self.price, self.order_price, self.amount, self.fee,
                         "maker" if self.maker else "taker")]
