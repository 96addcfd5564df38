"""A market maker quoting several spread levels per side around the mid price; each level is a
position executor (limit entry) closed by a triple barrier."""
from decimal import Decimal
from typing import List, Union

from pydantic import Field

from hummingbot.strategy_v2.controllers.market_making_controller_base import (
    MarketMakingControllerBase,
    MarketMakingControllerConfigBase,
)
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig

SEARCH_SPACE = {
    "buy_spreads": {"type": "categorical", "choices": ["0.002,0.006", "0.004,0.01", "0.006,0.015", "0.01,0.02"]},
    "sell_spreads": {"type": "categorical", "choices": ["0.002,0.006", "0.004,0.01", "0.006,0.015", "0.01,0.02"]},
    "stop_loss": {"type": "float", "low": 0.005, "high": 0.05, "step": 0.0025},
    "take_profit": {"type": "float", "low": 0.002, "high": 0.03, "step": 0.001},
    "time_limit": {"type": "int", "low": 600, "high": 6 * 3600, "step": 300},
    "executor_refresh_time": {"type": "int", "low": 60, "high": 1800, "step": 60},
    "cooldown_time": {"type": "int", "low": 60, "high": 900, "step": 60},
}


class PMMConfig(MarketMakingControllerConfigBase):
    controller_name: str = "pmm"
    # Validated even when left out (Hummingbot's base leaves its string defaults unparsed), so that
    # spreads are lists and missing amounts spread equally over the levels.
    buy_spreads: List[float] = Field(default="0.01,0.02", validate_default=True)
    sell_spreads: List[float] = Field(default="0.01,0.02", validate_default=True)
    buy_amounts_pct: Union[List[Decimal], None] = Field(default=None, validate_default=True)
    sell_amounts_pct: Union[List[Decimal], None] = Field(default=None, validate_default=True)
    # Hummingbot's base waits 15 s after a stop loss, which a 1m backtest cannot tell from 0 s.
    cooldown_time: int = Field(default=60, description="Seconds a level rests after its stop loss")


class PMMController(MarketMakingControllerBase):
    def __init__(self, config: PMMConfig, *args, **kwargs):
        self.config = config
        super().__init__(config, *args, **kwargs)

    def get_executor_config(self, level_id: str, price: Decimal, amount: Decimal):
        return PositionExecutorConfig(
            timestamp=self.market_data_provider.time(),
            level_id=level_id,
            connector_name=self.config.connector_name,
            trading_pair=self.config.trading_pair,
            entry_price=price,
            amount=amount,
            triple_barrier_config=self.config.triple_barrier_config,
            leverage=self.config.leverage,
            side=self.get_trade_type_from_level_id(level_id),
        )
