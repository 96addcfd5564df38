"""No look-ahead by default: a controller's features reach the ticks only once their candle has
closed, for any controller written the Hummingbot way; ``feature_timing="open"`` is Hummingbot's
own merge on the candle's open time."""
import asyncio

import numpy as np
import pytest

from hbopt.cache import synth
from hbopt.cache.windows import CandleWindows, resampling_source
from hbopt.engine import backtest
from hbopt.engine.controllers import load_config, use_controllers_path
from hbopt.engine.exchange.costs import Costs
from hbopt.engine.market_data import fill_provider, required_feeds
from hbopt.engine.stock import StockBacktestingEngine
from tests.conftest import CONNECTOR, PAIR

HOUR, DAY = 3600, 86400

# Written as Hummingbot's own example controllers are: indicators on 1h candles stamped with their
# open time, the whole frame handed over as features.
HOURLY_MOMENTUM = '''
import numpy as np
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase,
    DirectionalTradingControllerConfigBase,
)


class HourlyMomentumConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "hourly_momentum"
    interval: str = "1h"


class HourlyMomentum(DirectionalTradingControllerBase):
    """Goes with the last hourly candle: long after a green one, short after a red one."""

    def get_candles_config(self):
        return [CandlesConfig(connector=self.config.connector_name, trading_pair=self.config.trading_pair,
                              interval=self.config.interval, max_records=2)]

    async def update_processed_data(self):
        df = self.market_data_provider.get_candles_df(self.config.connector_name, self.config.trading_pair,
                                                      self.config.interval)
        df["signal"] = np.sign(df["close"] - df["open"])
        df["candle_open"] = df["timestamp"]
        self.processed_data["signal"] = df["signal"].iloc[-1]
        self.processed_data["features"] = df
'''


@pytest.fixture(scope="module")
def momentum(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("timing") / "momentum_controllers" / "directional_trading"
    folder.mkdir(parents=True)
    (folder / "hourly_momentum.py").write_text(HOURLY_MOMENTUM)
    return use_controllers_path(folder.parent)


def config(**fields) -> dict:
    return {"controller_name": "hourly_momentum", "connector_name": CONNECTOR, "trading_pair": PAIR, **fields}


def random_walk(days: float, seed: int) -> tuple[CandleWindows, int]:
    """A martingale market (no trend, no mean reversion) and the last whole hour it covers."""
    minutes = synth.generate(days, "1m", seed=seed, regime="walk").to_numpy()
    return CandleWindows(resampling_source(minutes), max_bytes=1 << 29), int(minutes[-1, 0]) // HOUR * HOUR - HOUR


@pytest.mark.parametrize("timing", ["close", "open"])
def test_each_tick_sees_the_hourly_candle_its_timing_allows(momentum, timing):
    """'close': the last hour whose close is at or before the close the 1m tick trades at.
    'open': the hour the tick is in, final close included (Hummingbot's look-ahead)."""
    candles, end = random_walk(3, seed=2)
    start = end - 2 * DAY
    engine = StockBacktestingEngine(timing)
    controller_config = load_config(config(), momentum)

    async def run():
        provider = engine.backtesting_data_provider
        probe = controller_config.get_controller_class()(config=controller_config, market_data_provider=provider,
                                                         actions_queue=None)
        fill_provider(provider, controller_config, required_feeds(probe, "1m"), candles, start, end)
        return await engine.run_backtesting(controller_config, start, end, "1m", 0.0)

    ticks = asyncio.run(run())["processed_data"]["features"]

    tick, seen = ticks["timestamp"].to_numpy(), ticks["candle_open"].to_numpy()
    assert len(ticks) > DAY // 60
    if timing == "close":
        assert np.all(seen + HOUR <= tick + 60) and np.all(tick + 60 < seen + 2 * HOUR)
    else:
        assert np.all(seen <= tick) and np.all(tick < seen + HOUR)
    assert engine.features_interval == "1h"


def test_a_momentum_controller_written_the_hummingbot_way_has_no_edge_on_a_random_walk(momentum):
    candles, end = random_walk(61, seed=1)
    trades = config(time_limit=HOUR, stop_loss=None, take_profit=None, cooldown_time=60)

    def run(timing):
        result = backtest(trades, end - 60 * DAY, end, engine="turbo", candles=candles, user_module=momentum,
                          ledger=True, trade_cost=0.0, costs=Costs("hummingbot"), feature_timing=timing)
        returns = np.array([e["net_pnl_pct"] for e in result["ledger"]["executors"] if e["filled_amount_quote"]])
        return result, returns.mean() / returns.std(ddof=1) * np.sqrt(len(returns))

    honest, t_honest = run("close")
    assert honest["engine"] == "turbo" and honest["total_positions"] > 1000
    assert 0.45 < honest["accuracy"] < 0.55 and abs(t_honest) < 3      # a coin toss, as it must be
    peeking, t_peeking = run("open")
    assert peeking["accuracy"] > 0.8 and t_peeking > 20                  # it trades on the hour's final close


def test_the_result_says_which_timing_ran_and_warns_about_coarser_candles(momentum):
    candles, end = random_walk(2, seed=3)
    for timing, words in (("close", "once its candle has closed"), ("open", "up to 59 min before they exist")):
        result = backtest(config(), end - DAY, end, candles=candles, user_module=momentum, feature_timing=timing)
        assert result["feature_timing"] == timing
        assert [w for w in result["warnings"] if "come from 1h candles" in w and words in w]
    at_hours = backtest(config(), end - DAY, end, resolution="1h", candles=candles, user_module=momentum)
    assert not [w for w in at_hours["warnings"] if "come from" in w]  # nothing coarser than the ticks
