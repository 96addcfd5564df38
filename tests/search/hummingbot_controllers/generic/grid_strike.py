"""A test stand-in for Hummingbot's ``controllers/generic/grid_strike.py``: its config's fields,
types and defaults (an account's leverage and position mode, the grid's side as a ``TradeType``,
Decimal bounds, a nested triple barrier with limit-maker order types), and its way of trading:
one grid executor over the bounds whenever none is active and the price is inside them."""
from decimal import Decimal
from typing import List, Optional

from pydantic import Field

from hummingbot.core.data_type.common import MarketDict, OrderType, PositionMode, PriceType, TradeType
from hummingbot.strategy_v2.controllers import ControllerBase, ControllerConfigBase
from hummingbot.strategy_v2.executors.grid_executor.data_types import GridExecutorConfig
from hummingbot.strategy_v2.executors.position_executor.data_types import TripleBarrierConfig
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, ExecutorAction


class GridStrikeConfig(ControllerConfigBase):
    controller_type: str = "generic"
    controller_name: str = "grid_strike"
    leverage: int = 20
    position_mode: PositionMode = PositionMode.HEDGE
    connector_name: str = "okx"
    trading_pair: str = "WLD-USDT"
    side: TradeType = TradeType.BUY
    start_price: Decimal = Field(default=Decimal("0.38"))
    end_price: Decimal = Field(default=Decimal("0.75"))
    limit_price: Decimal = Field(default=Decimal("0.35"))
    total_amount_quote: Decimal = Field(default=Decimal("1000"))
    min_spread_between_orders: Optional[Decimal] = Field(default=Decimal("0.001"))
    min_order_amount_quote: Optional[Decimal] = Field(default=Decimal("5"))
    max_open_orders: int = Field(default=2)
    max_orders_per_batch: Optional[int] = Field(default=1)
    order_frequency: int = Field(default=3)
    activation_bounds: Optional[Decimal] = Field(default=None)
    keep_position: bool = Field(default=False)
    triple_barrier_config: TripleBarrierConfig = TripleBarrierConfig(
        take_profit=Decimal("0.001"), open_order_type=OrderType.LIMIT_MAKER,
        take_profit_order_type=OrderType.LIMIT_MAKER)

    def update_markets(self, markets: MarketDict) -> MarketDict:
        return markets.add_or_update(self.connector_name, self.trading_pair)


class GridStrike(ControllerBase):
    def determine_executor_actions(self) -> List[ExecutorAction]:
        cfg = self.config
        price = self.market_data_provider.get_price_by_type(cfg.connector_name, cfg.trading_pair, PriceType.MidPrice)
        if any(e.is_active for e in self.executors_info) or not cfg.start_price <= price <= cfg.end_price:
            return []
        return [CreateExecutorAction(controller_id=cfg.id, executor_config=GridExecutorConfig(
            timestamp=self.market_data_provider.time(), connector_name=cfg.connector_name,
            trading_pair=cfg.trading_pair, start_price=cfg.start_price, end_price=cfg.end_price,
            leverage=cfg.leverage, limit_price=cfg.limit_price, side=cfg.side,
            total_amount_quote=cfg.total_amount_quote, min_spread_between_orders=cfg.min_spread_between_orders,
            min_order_amount_quote=cfg.min_order_amount_quote, max_open_orders=cfg.max_open_orders,
            max_orders_per_batch=cfg.max_orders_per_batch, order_frequency=cfg.order_frequency,
            activation_bounds=cfg.activation_bounds, triple_barrier_config=cfg.triple_barrier_config,
            level_id=None, keep_position=cfg.keep_position))]

    async def update_processed_data(self):
        pass
