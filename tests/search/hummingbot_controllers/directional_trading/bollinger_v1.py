"""A test stand-in for Hummingbot's ``controllers/directional_trading/bollinger_v1.py``: its
config's fields and defaults (candles' connector and pair left empty to mean the traded ones,
filled by validators), and its signal: long below the lower band's ``bb_long_threshold`` of the
band width, short above ``bb_short_threshold`` (Bollinger %B from pandas)."""
from typing import List

from pydantic import Field, field_validator
from pydantic_core.core_schema import ValidationInfo

from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase,
    DirectionalTradingControllerConfigBase,
)


class BollingerV1ControllerConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "bollinger_v1"
    candles_connector: str = Field(default=None)
    candles_trading_pair: str = Field(default=None)
    interval: str = Field(default="3m")
    bb_length: int = Field(default=100)
    bb_std: float = Field(default=2.0)
    bb_long_threshold: float = Field(default=0.0)
    bb_short_threshold: float = Field(default=1.0)

    @field_validator("candles_connector", mode="before")
    @classmethod
    def set_candles_connector(cls, value, info: ValidationInfo):
        return value or info.data.get("connector_name")

    @field_validator("candles_trading_pair", mode="before")
    @classmethod
    def set_candles_trading_pair(cls, value, info: ValidationInfo):
        return value or info.data.get("trading_pair")


class BollingerV1Controller(DirectionalTradingControllerBase):
    def get_candles_config(self) -> List[CandlesConfig]:
        return [CandlesConfig(connector=self.config.candles_connector, trading_pair=self.config.candles_trading_pair,
                              interval=self.config.interval, max_records=self.config.bb_length)]

    async def update_processed_data(self):
        cfg = self.config
        df = self.market_data_provider.get_candles_df(connector_name=cfg.candles_connector,
                                                      trading_pair=cfg.candles_trading_pair, interval=cfg.interval,
                                                      max_records=cfg.bb_length)
        mean = df["close"].rolling(cfg.bb_length).mean()
        width = df["close"].rolling(cfg.bb_length).std(ddof=0) * cfg.bb_std
        percent_b = (df["close"] - (mean - width)) / (2 * width)
        df["signal"] = 0
        df.loc[percent_b < cfg.bb_long_threshold, "signal"] = 1
        df.loc[percent_b > cfg.bb_short_threshold, "signal"] = -1
        self.processed_data = {"signal": df["signal"].iloc[-1], "features": df}
