"""Moving-average cross: reads slower candles (1h by default) for the averages while executing on
the backtest resolution. Buys on the candle where the fast average crosses above the slow one,
sells where it crosses below; each signal stays up until the next candle's. Features are stamped
with their candle's open time, as Hummingbot's controllers do: hbopt's engine makes them reach
the ticks only once the candle has closed."""
from decimal import Decimal
from typing import List, Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase,
    DirectionalTradingControllerConfigBase,
)

SEARCH_SPACE = {
    "fast_ma": {"type": "int", "low": 3, "high": 50},
    "slow_ma": {"type": "int", "low": 10, "high": 200, "step": 5},
    "ma_type": {"type": "categorical", "choices": ["ema", "sma"]},
    "stop_loss": {"type": "float", "low": 0.01, "high": 0.08, "step": 0.005},
    "take_profit": {"type": "float", "low": 0.01, "high": 0.12, "step": 0.005},
    "time_limit": {"type": "int", "low": 3600, "high": 7 * 86400, "step": 3600},
}


class MACrossConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "ma_cross"
    interval: str = Field(default="1h", description="Candle interval the averages are computed on")
    fast_ma: int = Field(default=12, gt=0)
    slow_ma: int = Field(default=48, gt=1)
    ma_type: Literal["ema", "sma"] = "ema"
    time_limit: Optional[int] = Field(default=24 * 3600, gt=0)
    stop_loss: Optional[Decimal] = Field(default=Decimal("0.03"), gt=0)
    take_profit: Optional[Decimal] = Field(default=Decimal("0.05"), gt=0)

    @model_validator(mode="after")
    def fast_below_slow(self):
        if self.fast_ma >= self.slow_ma:
            raise ValueError(f"fast_ma ({self.fast_ma}) must be below slow_ma ({self.slow_ma})")
        return self


class MACrossController(DirectionalTradingControllerBase):
    def __init__(self, config: MACrossConfig, *args, **kwargs):
        self.config = config
        super().__init__(config, *args, **kwargs)

    def get_candles_config(self) -> List[CandlesConfig]:
        return [CandlesConfig(connector=self.config.connector_name, trading_pair=self.config.trading_pair,
                              interval=self.config.interval, max_records=self.config.slow_ma + 1)]

    def _average(self, close, length):
        if self.config.ma_type == "ema":
            return close.ewm(span=length, adjust=False, min_periods=length).mean()
        return close.rolling(length).mean()

    async def update_processed_data(self):
        cfg = self.config
        candles = self.market_data_provider.get_candles_df(cfg.connector_name, cfg.trading_pair, cfg.interval,
                                                           cfg.slow_ma + 1)
        fast, slow = self._average(candles["close"], cfg.fast_ma), self._average(candles["close"], cfg.slow_ma)
        crossed = (fast > slow).astype(int).diff().where(slow.shift().notna(), 0)
        signal = np.where(crossed > 0, 1, np.where(crossed < 0, -1, 0))
        features = candles.assign(fast_ma_value=fast, slow_ma_value=slow, signal=signal)
        features = features[["timestamp", "fast_ma_value", "slow_ma_value", "signal"]].dropna().reset_index(drop=True)
        self.processed_data = {"signal": int(features["signal"].iat[-1]) if len(features) else 0,
                               "features": features}
