"""What every simulated executor shares: the market as arrays, and an executor's life as the
frame Hummingbot's simulators build for it.

Hummingbot simulates an executor once, when it is created, into a frame of rows from its creation
tick to the tick it closes, and reads its state at a tick off the last row at or before it
(``ExecutorSimulation.get_executor_info_at_timestamp``). An :class:`ExecutorRun` is that frame
without the DataFrame: each executor type (one module each) says where it closes and what its
row holds at a tick; the ``ExecutorInfo`` is built from that only when something reads it.
"""
from __future__ import annotations

from decimal import Decimal

import numpy as np
from hummingbot.strategy_v2.models.base import RunnableStatus
from hummingbot.strategy_v2.models.executors import CloseType
from hummingbot.strategy_v2.models.executors_info import ExecutorInfo

NO_TICK = -1


class Market:
    """The prepared ticks as arrays, plus each tick's row as Hummingbot's ``iterrows`` gives it."""

    def __init__(self, features):
        self.ts = features.index.to_numpy(dtype="float64")
        self.open = np.ascontiguousarray(features["open"].to_numpy(dtype="float64"))
        self.close = np.ascontiguousarray(features["close"].to_numpy(dtype="float64"))
        self.low = np.ascontiguousarray(features["low"].to_numpy(dtype="float64"))
        self.high = np.ascontiguousarray(features["high"].to_numpy(dtype="float64"))
        self._columns = list(features.columns)
        self._values = features.to_numpy()  # what iterrows() builds each row from
        self._features = features

    def column(self, name: str) -> np.ndarray:
        return self._features[name].to_numpy()

    def row(self, tick: int) -> dict:
        return dict(zip(self._columns, self._values[tick].tolist()))

    def last_tick_until(self, timestamp: float) -> int:
        """The last tick at or before ``timestamp`` (where a ``.loc[:timestamp]`` slice ends)."""
        return int(np.searchsorted(self.ts, timestamp, side="right")) - 1


class ExecutorRun:
    """One executor over its life: its frame spans ticks ``start..close`` and it terminates with
    ``close_type`` on ``close``. Subclasses give a row's values (:meth:`values_at`), the average
    price column and any extra ``custom_info``."""

    __slots__ = ("config", "id", "order", "start", "close", "close_type", "market", "fill")

    def __init__(self, config, order: int, start: int, close: int, close_type: CloseType, fill: int, market):
        self.config, self.id, self.order, self.market = config, config.id, order, market
        self.start, self.close, self.close_type = start, close, close_type
        self.fill = fill  # the first row with a filled amount, or NO_TICK

    @property
    def noticed(self) -> int:
        """The tick at which Hummingbot's engine books this executor as terminated: its close tick,
        but never its creation tick (created after that tick's bookkeeping, seen on the next)."""
        return max(self.close, self.start + 1)

    def is_filled_at(self, tick: int) -> bool:
        return self.fill != NO_TICK and self.fill <= tick

    def values_at(self, tick: int) -> tuple[float, float, float, float]:
        """(net_pnl_pct, net_pnl_quote, cum_fees_quote, filled_amount_quote) on the row of ``tick``."""
        raise NotImplementedError

    def average_price_at(self, tick: int) -> float:
        """The row's ``current_position_average_price``."""
        raise NotImplementedError

    def extra_info(self, tick: int) -> dict:
        """``custom_info`` keys this executor type's simulation adds, as read at ``tick``."""
        return {}

    def info(self, tick: int, stopped_as: CloseType | None = None) -> ExecutorInfo:
        """The ``ExecutorInfo`` Hummingbot's engine reports at ``tick`` (``start <= tick <= close``);
        with ``stopped_as``, as its stop action leaves it: terminated on ``tick`` with that close type."""
        pct, quote, fees, filled = self.values_at(tick)
        active = tick < self.close and stopped_as is None
        trading = filled > 0
        ts = self.market.ts
        config = self.config
        return ExecutorInfo.model_construct(  # already-valid values: pydantic's validation would only slow it
            id=config.id, timestamp=config.timestamp, type=config.type,
            status=RunnableStatus.RUNNING if active else RunnableStatus.TERMINATED, config=config,
            net_pnl_pct=Decimal(pct), net_pnl_quote=Decimal(quote), cum_fees_quote=Decimal(fees),
            filled_amount_quote=Decimal(filled), is_active=active, is_trading=bool(trading and active),
            custom_info={"close_price": float(self.market.close[tick]), "level_id": config.level_id,
                         "side": config.side, "current_position_average_price": self.average_price_at(tick),
                         "open_order_last_update": float(ts[self.fill]) if trading else float(ts[tick]),
                         **self.extra_info(tick)},
            close_timestamp=None if active else float(ts[tick]),
            close_type=None if active else (stopped_as or self.close_type), controller_id=None)


class LifeRun(ExecutorRun):
    """An executor whose life the exchange model decided (:mod:`hbopt.engine.exchange`: a
    ``PositionLife`` or ``OrderLife``), its fills in ``custom_info["fills"]`` up to the tick read."""

    __slots__ = ("life", "fills")

    def __init__(self, config, order: int, life, market):
        super().__init__(config, order, life.start, life.close, life.close_type, life.fill, market)
        self.life, self.fills = life, life.fills()

    def values_at(self, tick: int) -> tuple[float, float, float, float]:
        return self.life.row(tick)

    def average_price_at(self, tick: int) -> float:
        return self.life.average_price(tick)

    def extra_info(self, tick: int) -> dict:
        if tick >= self.close or not self.fills:
            return {"fills": self.fills}
        now = self.market.ts[tick]
        return {"fills": [f for f in self.fills if f["timestamp"] <= now]}
