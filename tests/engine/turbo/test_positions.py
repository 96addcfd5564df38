"""Position executors: the turbo engine gives Hummingbot's answers, the same executors, PnL, fees,
volume and summary as the stock engine, for many random configs of the position-executor built-ins
(consulted on the ticks their bases can act) and for random position executors created and stopped
by a generic controller (consulted on every tick), on several kinds of market, under Hummingbot's
cost model and the exchange's in turn."""
import random

import pytest

from hbopt.engine.controllers import use_controllers_path
from hbopt.engine.parity import differences
from tests.conftest import CONNECTOR, PAIR
from tests.engine.turbo.parity import COST_MODELS, DAY, MARKETS, both_engines, chaos_runs, close_types, market_source


def random_barriers(rng: random.Random) -> dict:
    barriers = {"stop_loss": rng.choice([0.002, 0.004, 0.008, 0.015]),
                "take_profit": rng.choice([0.002, 0.004, 0.008, 0.015]),
                "time_limit": rng.choice([300, 900, 1800, 3600, 4 * 3600])}
    if rng.random() < 0.5:
        barriers["trailing_stop"] = f"{rng.choice([0.001, 0.002, 0.004])},{rng.choice([0.0005, 0.001])}"
    return barriers


def random_config(controller: str, rng: random.Random) -> dict:
    base = {"controller_name": controller, "connector_name": CONNECTOR, "trading_pair": PAIR,
            "total_amount_quote": rng.choice([100, 1000]), **random_barriers(rng)}
    if controller == "bollinger":
        return {**base, "bb_length": rng.choice([20, 50, 100]), "bb_std": rng.choice([1.5, 2.0, 2.5]),
                "interval": rng.choice(["1m", "1m", "5m"]),
                "bb_long_threshold": rng.choice([-0.1, 0.0, 0.1]), "bb_short_threshold": rng.choice([0.9, 1.0, 1.1]),
                "cooldown_time": rng.choice([60, 300, 900]), "max_executors_per_side": rng.choice([1, 2, 3])}
    if controller == "ma_cross":
        fast = rng.choice([2, 3, 5])
        return {**base, "fast_ma": fast, "slow_ma": fast + rng.choice([3, 6, 10]), "ma_type": rng.choice(["ema", "sma"]),
                "cooldown_time": rng.choice([60, 600]), "max_executors_per_side": rng.choice([1, 3]),
                "interval": rng.choice(["15m", "1h"])}
    levels = rng.choice([1, 2, 3])
    spreads = ",".join(str(round(0.0007 * (i + 1) * rng.choice([1, 2]), 5)) for i in range(levels))
    return {**base, "buy_spreads": spreads, "sell_spreads": spreads, "executor_refresh_time": rng.choice([120, 300, 900]),
            "cooldown_time": rng.choice([15, 120, 600])}


WINDOW_DAYS = {"bollinger": 2.0, "ma_cross": 3.0, "pmm": 0.4}
CONFIGS_PER_MARKET = {"bollinger": 4, "ma_cross": 4, "pmm": 3}


@pytest.mark.parametrize("market", sorted(MARKETS))
@pytest.mark.parametrize("controller", sorted(WINDOW_DAYS))
def test_random_configs_give_identical_ledgers_and_summaries(controller, market):
    """Identical to the last bit, in both feature timings (features merged at candle close or open)."""
    candles, last = market_source(market)
    rng = random.Random(f"{controller}/{market}")
    close_types, executors = set(), 0
    for n in range(CONFIGS_PER_MARKET[controller]):
        config = random_config(controller, rng)
        end = last - rng.randrange(0, 6 * 3600, 60)
        if controller != "pmm":  # end on a candle every interval has (the last whole hour)
            end = end // 3600 * 3600 - 3600
        start = end - int(WINDOW_DAYS[controller] * DAY)
        stock, turbo = both_engines(config, candles, start, end, trade_cost=rng.choice([0.0, 0.0004, 0.001]),
                                    feature_timing=("close", "open")[n % 2], costs=COST_MODELS[n // 2 % 2])
        assert turbo["engine"] == "turbo" and turbo["turbo_fallback"] is None
        assert differences(stock, turbo) == [], config
        close_types |= {e["close_type"] for e in stock["ledger"]["executors"]}
        executors += len(stock["ledger"]["executors"])
    assert executors >= 10  # the configs really trade
    assert len(close_types) >= 2, close_types  # and more than one barrier closes them


@pytest.mark.parametrize("market", sorted(MARKETS))
def test_random_position_executors_created_and_stopped_every_tick_match(market):
    """Stops that keep their position move it into a position hold, valued every tick after."""
    runs = chaos_runs(market, range(3), kinds="position")
    assert {"EARLY_STOP", "POSITION_HOLD", "STOP_LOSS", "TAKE_PROFIT", "TIME_LIMIT"} <= close_types(runs)


HOOKED = '''
import numpy as np
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase,
    DirectionalTradingControllerConfigBase,
)
from hummingbot.strategy_v2.models.executor_actions import StopExecutorAction


class ImpatientMomentumConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "impatient_momentum"
    lookback: int = 30
    patience: int = 600


class ImpatientMomentum(DirectionalTradingControllerBase):
    """Follows 30-minute momentum; stops any executor still losing after `patience` seconds."""

    def get_candles_config(self):
        return [CandlesConfig(connector=self.config.connector_name, trading_pair=self.config.trading_pair,
                              interval="1m", max_records=self.config.lookback + 1)]

    async def update_processed_data(self):
        candles = self.market_data_provider.get_candles_df(self.config.connector_name, self.config.trading_pair, "1m")
        move = candles["close"].pct_change(self.config.lookback)
        features = candles.assign(signal=np.sign(move.where(move.abs() > 0.004, 0)))[["timestamp", "signal"]]
        self.processed_data = {"signal": 0, "features": features.dropna()}

    def stop_actions_proposal(self):
        now = self.market_data_provider.time()
        return [StopExecutorAction(controller_id=self.config.id, executor_id=e.id)
                for e in self.executors_info
                if e.is_active and now - e.timestamp > self.config.patience and e.net_pnl_quote <= 0]
'''


def test_a_controller_overriding_a_hook_is_consulted_on_every_tick_and_matches(tmp_path):
    folder = tmp_path / "hooked_controllers" / "directional_trading"
    folder.mkdir(parents=True)
    (folder / "impatient_momentum.py").write_text(HOOKED)
    module = use_controllers_path(folder.parent)
    candles, last = market_source("trending")
    config = {"controller_name": "impatient_momentum", "connector_name": CONNECTOR, "trading_pair": PAIR,
              "time_limit": 3 * 3600, "stop_loss": 0.03, "take_profit": 0.03}
    stock, turbo = both_engines(config, candles, last - DAY, last, user_module=module)
    assert turbo["engine"] == "turbo" and turbo["turbo_fallback"] is None
    assert "EARLY_STOP" in stock["close_types"]
    assert differences(stock, turbo) == []
