"""A test stand-in for Hummingbot's ``controllers/generic/pmm_v1.py``: the fields of its config a
study searches (a base ``order_amount`` as a Decimal, spread lists given as a list or as
``"0.01,0.02"``, refresh and fill delays, a Decimal tolerance, a switch), and its way of trading:
limit orders at each spread around the mid price, renewed once they rest past the refresh time
(unless the price moved less than the tolerance), a level resting after its order filled."""
from decimal import Decimal
from typing import List

from pydantic import Field, field_validator

from hummingbot.core.data_type.common import MarketDict, PriceType, TradeType
from hummingbot.strategy_v2.controllers import ControllerBase, ControllerConfigBase
from hummingbot.strategy_v2.executors.order_executor.data_types import ExecutionStrategy, OrderExecutorConfig
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, ExecutorAction, StopExecutorAction
from hummingbot.strategy_v2.models.executors import CloseType


class PMMV1Config(ControllerConfigBase):
    controller_type: str = "generic"
    controller_name: str = "pmm_v1"
    connector_name: str = Field(default="binance")
    trading_pair: str = Field(default="BTC-FDUSD")
    total_amount_quote: Decimal = Field(default=Decimal("0"))
    order_amount: Decimal = Field(default=Decimal("1"))
    buy_spreads: List[float] = Field(default="0.01")
    sell_spreads: List[float] = Field(default="0.01")
    order_refresh_time: int = Field(default=30)
    order_refresh_tolerance_pct: Decimal = Field(default=Decimal("-1"))
    filled_order_delay: int = Field(default=60)
    inventory_skew_enabled: bool = Field(default=False)

    @field_validator("buy_spreads", "sell_spreads", mode="before")
    @classmethod
    def parse_spreads(cls, value):
        return [float(x) for x in value.split(",") if x.strip()] if isinstance(value, str) else value

    def update_markets(self, markets: MarketDict) -> MarketDict:
        return markets.add_or_update(self.connector_name, self.trading_pair)


class PMMV1(ControllerBase):
    def determine_executor_actions(self) -> List[ExecutorAction]:
        cfg, now = self.config, self.market_data_provider.time()
        mid = Decimal(str(self.market_data_provider.get_price_by_type(cfg.connector_name, cfg.trading_pair,
                                                                     PriceType.MidPrice)))
        busy, actions = set(), []
        for executor in self.executors_info:
            level = executor.config.level_id
            if executor.is_active:
                busy.add(level)
                drift = abs(executor.config.price - mid) / mid
                if now - executor.timestamp > cfg.order_refresh_time and drift > cfg.order_refresh_tolerance_pct:
                    actions.append(StopExecutorAction(controller_id=cfg.id, executor_id=executor.id, keep_position=True))
            elif executor.close_type == CloseType.POSITION_HOLD and now - executor.close_timestamp < cfg.filled_order_delay:
                busy.add(level)
        for side, spreads, sign in ((TradeType.BUY, cfg.buy_spreads, -1), (TradeType.SELL, cfg.sell_spreads, 1)):
            for n, spread in enumerate(spreads):
                level = f"{side.name.lower()}_{n}"
                if level not in busy:
                    actions.append(CreateExecutorAction(controller_id=cfg.id, executor_config=OrderExecutorConfig(
                        timestamp=now, connector_name=cfg.connector_name, trading_pair=cfg.trading_pair, side=side,
                        amount=cfg.order_amount, price=mid * (1 + sign * Decimal(str(spread))), level_id=level,
                        execution_strategy=ExecutionStrategy.LIMIT)))
        return actions

    async def update_processed_data(self):
        pass
