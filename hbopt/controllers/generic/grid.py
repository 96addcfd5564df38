"""A grid around the price: whenever no grid is running, one grid executor opens with buy levels
(or sell levels) spread from ``grid_depth`` below the price to ``grid_top`` above it, each taking
profit ``take_profit`` above its entry. The grid closes as a whole when the price leaves the top
(take profit), falls through the limit ``limit_depth`` past the bottom (stop), loses
``stop_loss`` of what it traded, or after ``time_limit``; the next tick opens a new one.
"""
from decimal import Decimal
from typing import List, Optional

from pydantic import Field, field_validator

from hummingbot.core.data_type.common import MarketDict, OrderType, PriceType, TradeType
from hummingbot.strategy_v2.controllers.controller_base import ControllerBase, ControllerConfigBase
from hummingbot.strategy_v2.executors.grid_executor.data_types import GridExecutorConfig
from hummingbot.strategy_v2.executors.position_executor.data_types import TripleBarrierConfig
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, ExecutorAction

SEARCH_SPACE = {
    "grid_depth": {"type": "float", "low": 0.005, "high": 0.06, "step": 0.005},
    "grid_top": {"type": "float", "low": 0.001, "high": 0.02, "step": 0.001},
    "limit_depth": {"type": "float", "low": 0.005, "high": 0.05, "step": 0.005},
    "min_spread_between_orders": {"type": "float", "low": 0.001, "high": 0.01, "step": 0.0005},
    "take_profit": {"type": "float", "low": 0.001, "high": 0.02, "step": 0.001},
    "time_limit": {"type": "int", "low": 3600, "high": 3 * 86400, "step": 3600},
}


class GridConfig(ControllerConfigBase):
    controller_type: str = "generic"
    controller_name: str = "grid"
    connector_name: str = "binance_perpetual"
    trading_pair: str = "BTC-USDT"
    total_amount_quote: Decimal = Decimal("1000")
    leverage: int = 20
    side: TradeType = Field(default=TradeType.BUY, description="BUY levels below the price, or SELL levels above it")
    grid_depth: float = Field(default=0.02, gt=0, lt=1, description="How far past the price the levels reach")
    grid_top: float = Field(default=0.005, gt=0, description="How far the other way the grid takes profit as a whole")
    limit_depth: float = Field(default=0.01, ge=0, description="Stop this far past the deepest level (0: none)")
    min_spread_between_orders: Decimal = Field(default=Decimal("0.002"), gt=0,
                                               description="Closest level spacing (at most the range)")
    min_order_amount_quote: Decimal = Decimal("5")
    take_profit: float = Field(default=0.004, gt=0, description="Each level's profit target")
    stop_loss: Optional[float] = Field(default=None, gt=0, description="Stop when the grid loses this share of what it traded")
    time_limit: Optional[int] = Field(default=86400, gt=0, description="Seconds a grid may run")
    keep_position: bool = Field(default=False, description="Hold what the grid bought when it stops at its limit")

    @field_validator("side", mode="before")
    @classmethod
    def side_by_name(cls, value):
        """``BUY``/``SELL`` as a study file may give it (results and exports give its value, 1 or 2)."""
        return TradeType[value.upper()] if isinstance(value, str) else value

    def update_markets(self, markets: MarketDict) -> MarketDict:
        return markets.add_or_update(self.connector_name, self.trading_pair)


class GridController(ControllerBase):
    def __init__(self, config: GridConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.config = config

    def determine_executor_actions(self) -> List[ExecutorAction]:
        """A new grid around the current price when none is running, else nothing."""
        if any(executor.is_active for executor in self.executors_info):
            return []
        cfg = self.config
        price = Decimal(str(self.market_data_provider.get_price_by_type(cfg.connector_name, cfg.trading_pair,
                                                                       PriceType.MidPrice)))
        deep, top, limit = (Decimal(str(f)) for f in (cfg.grid_depth, cfg.grid_top, cfg.limit_depth))
        if cfg.side == TradeType.BUY:
            start, end = price * (1 - deep), price * (1 + top)
            limit_price = start * (1 - limit)
        else:
            start, end = price * (1 - top), price * (1 + deep)
            limit_price = end * (1 + limit)
        # Hummingbot's level generation divides by zero when the spacing exceeds the range
        spacing = min(cfg.min_spread_between_orders, deep + top)
        return [CreateExecutorAction(controller_id=cfg.id, executor_config=GridExecutorConfig(
            timestamp=self.market_data_provider.time(), connector_name=cfg.connector_name,
            trading_pair=cfg.trading_pair, side=cfg.side, start_price=start, end_price=end,
            limit_price=limit_price if limit else Decimal(0), leverage=cfg.leverage,
            total_amount_quote=cfg.total_amount_quote, min_spread_between_orders=spacing,
            min_order_amount_quote=cfg.min_order_amount_quote, keep_position=cfg.keep_position,
            triple_barrier_config=TripleBarrierConfig(
                take_profit=Decimal(str(cfg.take_profit)), time_limit=cfg.time_limit,
                stop_loss=Decimal(str(cfg.stop_loss)) if cfg.stop_loss else None,
                open_order_type=OrderType.LIMIT_MAKER, take_profit_order_type=OrderType.LIMIT_MAKER)))]

    async def update_processed_data(self):
        pass
