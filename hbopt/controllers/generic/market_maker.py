"""A market maker on order executors: resting limit-maker orders at each spread level around the
price, renewed every ``order_refresh_time`` while unfilled. A filled order leaves its position
in the pair's position hold (inventory, valued at the market) and its level rests for
``filled_order_delay``; a side stops quoting while the inventory held that way reaches
``max_inventory_quote``.
"""
from decimal import Decimal
from typing import List

from pydantic import Field, field_validator

from hummingbot.core.data_type.common import MarketDict, PriceType, TradeType
from hummingbot.strategy_v2.controllers.controller_base import ControllerBase, ControllerConfigBase
from hummingbot.strategy_v2.executors.order_executor.data_types import ExecutionStrategy, OrderExecutorConfig
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, ExecutorAction, StopExecutorAction
from hummingbot.strategy_v2.models.executors import CloseType

SPREADS = ["0.0005,0.0015", "0.001,0.003", "0.002,0.005", "0.003,0.008", "0.005,0.012"]
SEARCH_SPACE = {
    "buy_spreads": {"type": "categorical", "choices": SPREADS},
    "sell_spreads": {"type": "categorical", "choices": SPREADS},
    "order_refresh_time": {"type": "int", "low": 60, "high": 1800, "step": 60},
    "filled_order_delay": {"type": "int", "low": 0, "high": 1800, "step": 60},
    "max_inventory_quote": {"type": "int", "low": 100, "high": 1000, "step": 100},
}


class MarketMakerConfig(ControllerConfigBase):
    controller_type: str = "generic"
    controller_name: str = "market_maker"
    connector_name: str = "binance_perpetual"
    trading_pair: str = "BTC-USDT"
    total_amount_quote: Decimal = Decimal("1000")
    buy_spreads: List[float] = Field(default="0.001,0.003", validate_default=True)
    sell_spreads: List[float] = Field(default="0.001,0.003", validate_default=True)
    order_amount_quote: Decimal = Field(default=Decimal("100"), gt=0, description="Each order's size, in quote")
    order_refresh_time: int = Field(default=300, gt=0, description="Seconds an unfilled order rests before renewal")
    filled_order_delay: int = Field(default=60, ge=0, le=3600, description="Seconds a level rests after a fill")
    max_inventory_quote: Decimal = Field(default=Decimal("500"), gt=0,
                                         description="Stop buying (selling) while this much is held long (short)")

    @field_validator("buy_spreads", "sell_spreads", mode="before")
    @classmethod
    def parse_spreads(cls, value):
        return [float(x) for x in value.split(",")] if isinstance(value, str) else value

    def update_markets(self, markets: MarketDict) -> MarketDict:
        return markets.add_or_update(self.connector_name, self.trading_pair)


class MarketMaker(ControllerBase):
    def __init__(self, config: MarketMakerConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.config = config

    def determine_executor_actions(self) -> List[ExecutorAction]:
        """Quote every level that has no order, is not resting after a fill and whose side the
        inventory allows; renew every order left unfilled past the refresh time."""
        cfg, now = self.config, self.market_data_provider.time()
        price = Decimal(str(self.market_data_provider.get_price_by_type(cfg.connector_name, cfg.trading_pair,
                                                                       PriceType.MidPrice)))
        busy = set()
        renew = []
        for executor in self.executors_info:
            if executor.is_active:
                busy.add(executor.config.level_id)
                if now - executor.timestamp > cfg.order_refresh_time:
                    renew.append(StopExecutorAction(controller_id=cfg.id, executor_id=executor.id, keep_position=True))
            elif executor.close_type == CloseType.POSITION_HOLD and now - executor.close_timestamp < cfg.filled_order_delay:
                busy.add(executor.config.level_id)
        inventory = self.held_base() * price
        quotes = []
        for side, spreads in ((TradeType.BUY, cfg.buy_spreads), (TradeType.SELL, cfg.sell_spreads)):
            if inventory * (1 if side == TradeType.BUY else -1) >= cfg.max_inventory_quote:
                continue
            for level, spread in enumerate(spreads):
                level_id = f"{side.name.lower()}_{level}"
                if level_id in busy:
                    continue
                quote_price = price * (1 - Decimal(str(spread))) if side == TradeType.BUY else price * (1 + Decimal(str(spread)))
                quotes.append(CreateExecutorAction(controller_id=cfg.id, executor_config=OrderExecutorConfig(
                    timestamp=now, connector_name=cfg.connector_name, trading_pair=cfg.trading_pair, side=side,
                    amount=cfg.order_amount_quote / quote_price, price=quote_price, level_id=level_id,
                    execution_strategy=ExecutionStrategy.LIMIT_MAKER)))
        return quotes + renew

    def held_base(self) -> Decimal:
        """The base amount held in this pair's position hold: positive long, negative short."""
        return sum((p.amount if p.side == TradeType.BUY else -p.amount for p in self.positions_held
                    if p.connector_name == self.config.connector_name and p.trading_pair == self.config.trading_pair),
                   Decimal(0))

    async def update_processed_data(self):
        pass
