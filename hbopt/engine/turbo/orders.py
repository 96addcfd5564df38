"""Order executors, as Hummingbot's ``OrderExecutorSimulator`` simulates them.

Its rules, restated over tick indices from the creation tick ``start`` to the run's last tick
(an order executor has no time limit):

- fill: the creation tick for MARKET and LIMIT_CHASER orders; the first tick whose close reaches
  the order's price (as a float) for LIMIT orders, or the better of that price and the creation
  tick's close for LIMIT_MAKER orders;
- a filled order closes on its fill tick as POSITION_HOLD, having bought or sold
  ``amount * fill close`` for fees of ``trade_cost`` times that, and no PnL of its own (the
  engine moves it into a position hold);
- an order that never fills rests, unfilled, to the last tick and closes there EXPIRED.
"""
from __future__ import annotations

import numpy as np
from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.executors.order_executor.data_types import ExecutionStrategy
from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.engine.turbo.runs import NO_TICK, ExecutorRun

_AT_ONCE = (ExecutionStrategy.MARKET, ExecutionStrategy.LIMIT_CHASER)


def _fill_tick(config, close: np.ndarray, start: int, last: int) -> int:
    if config.execution_strategy in _AT_ONCE:
        return start
    is_buy = config.side == TradeType.BUY
    price = float(config.price)
    if config.execution_strategy == ExecutionStrategy.LIMIT_MAKER:
        price = min(price, close[start]) if is_buy else max(price, close[start])
    window = close[start:last + 1]
    crossed = np.flatnonzero(window <= price if is_buy else window >= price)
    return start + int(crossed[0]) if len(crossed) else NO_TICK


class OrderRun(ExecutorRun):
    """An order executor: a POSITION_HOLD on its fill tick, else EXPIRED on the last tick."""

    __slots__ = ("amount_quote", "fees", "price")

    def __init__(self, config, order: int, start: int, last: int, market, trade_cost: float):
        fill = _fill_tick(config, market.close, start, last)
        if fill == NO_TICK:
            super().__init__(config, order, start, last, CloseType.EXPIRED, NO_TICK, market)
            self.amount_quote = self.fees = self.price = 0.0
            return
        super().__init__(config, order, start, fill, CloseType.POSITION_HOLD, fill, market)
        self.price = market.close[fill]
        self.amount_quote = float(config.amount) * self.price
        self.fees = trade_cost * self.amount_quote

    def values_at(self, tick: int) -> tuple[float, float, float, float]:
        if not self.is_filled_at(tick):
            return 0.0, 0.0, 0.0, 0.0
        return 0.0, 0.0, self.fees, self.amount_quote

    def average_price_at(self, tick: int) -> float:
        return self.price if self.is_filled_at(tick) else 0.0
