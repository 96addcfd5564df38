"""Bollinger mean reversion: buy when the close falls through the lower band, sell through the
upper one. The position is managed by the directional base's triple barrier."""
from typing import List

import numpy as np
from pydantic import Field

from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase,
    DirectionalTradingControllerConfigBase,
)

SEARCH_SPACE = {
    "bb_length": {"type": "int", "low": 20, "high": 300, "step": 10},
    "bb_std": {"type": "float", "low": 1.0, "high": 3.5, "step": 0.1},
    "bb_long_threshold": {"type": "float", "low": -0.3, "high": 0.3, "step": 0.05},
    "bb_short_threshold": {"type": "float", "low": 0.7, "high": 1.3, "step": 0.05},
    "stop_loss": {"type": "float", "low": 0.005, "high": 0.05, "step": 0.0025},
    "take_profit": {"type": "float", "low": 0.005, "high": 0.05, "step": 0.0025},
    "time_limit": {"type": "int", "low": 900, "high": 86400, "step": 900},
    "cooldown_time": {"type": "int", "low": 60, "high": 3600, "step": 60},
}


class BollingerConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "bollinger"
    interval: str = Field(default="1m", description="Candle interval the bands are computed on")
    bb_length: int = Field(default=100, gt=1)
    bb_std: float = Field(default=2.0, gt=0)
    bb_long_threshold: float = Field(default=0.0, description="Buy when %B falls below this")
    bb_short_threshold: float = Field(default=1.0, description="Sell when %B rises above this")


class BollingerController(DirectionalTradingControllerBase):
    def __init__(self, config: BollingerConfig, *args, **kwargs):
        self.config = config
        super().__init__(config, *args, **kwargs)

    def get_candles_config(self) -> List[CandlesConfig]:
        return [CandlesConfig(connector=self.config.connector_name, trading_pair=self.config.trading_pair,
                              interval=self.config.interval, max_records=self.config.bb_length + 1)]

    async def update_processed_data(self):
        cfg = self.config
        candles = self.market_data_provider.get_candles_df(cfg.connector_name, cfg.trading_pair, cfg.interval,
                                                           cfg.bb_length + 1)
        close = candles["close"]
        middle = close.rolling(cfg.bb_length).mean()
        width = cfg.bb_std * close.rolling(cfg.bb_length).std(ddof=0)
        percent_b = (close - (middle - width)) / (2 * width)
        signal = np.where(percent_b < cfg.bb_long_threshold, 1, np.where(percent_b > cfg.bb_short_threshold, -1, 0))
        features = candles.assign(bbp=percent_b, signal=signal)[["timestamp", "bbp", "signal"]]
        features = features.dropna().reset_index(drop=True)
        self.processed_data = {"signal": int(features["signal"].iat[-1]) if len(features) else 0,
                               "features": features}
