"""Grid executors: the turbo engine gives Hummingbot's answers for random configs of the built-in
grid controller (consulted only when no grid runs), and for random buy and sell grids created
and stopped by a generic controller (consulted on every tick), keeping their position or not,
under Hummingbot's cost model and the exchange's in turn."""
import random
from decimal import Decimal

import numpy as np
import pytest
from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.backtesting.executors_simulator.grid_executor_simulator import GridExecutorSimulator
from hummingbot.strategy_v2.executors.grid_executor.data_types import GridExecutorConfig
from hummingbot.strategy_v2.executors.position_executor.data_types import TripleBarrierConfig

from hbopt.cache import synth
from hbopt.engine.turbo.grids import GridRun
from hbopt.engine.turbo.runs import Market

from hbopt.engine.parity import differences
from tests.conftest import CONNECTOR, PAIR
from tests.engine.turbo.parity import COST_MODELS, DAY, MARKETS, both_engines, chaos_runs, close_types, market_source


def random_grid(rng: random.Random) -> dict:
    return {"controller_name": "grid", "connector_name": CONNECTOR, "trading_pair": PAIR,
            "side": rng.choice(["BUY", "SELL"]), "total_amount_quote": rng.choice([100, 1000]),
            "grid_depth": rng.choice([0.005, 0.02, 0.05]), "grid_top": rng.choice([0.001, 0.005]),
            "limit_depth": rng.choice([0, 0.005, 0.02]), "min_spread_between_orders": rng.choice([0.0005, 0.002]),
            "take_profit": rng.choice([0.001, 0.004, 0.01]), "stop_loss": rng.choice([None, 0.01, 0.05]),
            "time_limit": rng.choice([None, 3600, 86400]), "keep_position": rng.random() < 0.5}


@pytest.mark.parametrize("market", sorted(MARKETS))
def test_random_grid_configs_match(market):
    candles, last = market_source(market)
    rng = random.Random(f"grid/{market}")
    close_types = set()
    for n in range(5):
        config = random_grid(rng)
        end = last - rng.randrange(0, 6 * 3600, 60)
        stock, turbo = both_engines(config, candles, end - 2 * DAY, end, trade_cost=rng.choice([0.0, 0.0004, 0.001]),
                                    costs=COST_MODELS[n % 2])
        assert turbo["engine"] == "turbo" and turbo["turbo_fallback"] is None
        assert differences(stock, turbo) == [], config
        close_types |= set(stock["close_types"])
    assert len(close_types) >= 2, close_types


def test_the_grid_controller_keeps_its_level_spacing_within_its_range():
    """Hummingbot's level generation divides by zero for a spacing wider than the range."""
    candles, last = market_source("ranging")
    config = {"controller_name": "grid", "connector_name": CONNECTOR, "trading_pair": PAIR, "grid_depth": 0.005,
              "grid_top": 0.001, "min_spread_between_orders": 0.05}
    stock, turbo = both_engines(config, candles, last - DAY, last)
    assert stock["total_executors"] > 0 and differences(stock, turbo) == []


@pytest.mark.parametrize("market", sorted(MARKETS))
def test_random_grids_created_and_stopped_every_tick_match(market):
    assert {"EARLY_STOP", "POSITION_HOLD", "TAKE_PROFIT"} <= close_types(chaos_runs(market, range(3), kinds="grid"))


@pytest.mark.parametrize("market", sorted(MARKETS))
def test_a_grid_run_is_hummingbots_simulation_row_by_row(market):
    """Every row's values and the whole ``ExecutorInfo`` (custom info with every fill of the run,
    future ones too, as Hummingbot's grid simulation reports them) at every tick of its life."""
    minutes = synth.generate(2, "1m", **MARKETS[market])
    features = minutes.assign(timestamp=minutes["timestamp"].astype(float)).set_index("timestamp", drop=False)
    features.index = features.index.astype(float)
    rng = random.Random(market)
    for n in range(6):
        start = rng.randrange(0, len(features) // 2)
        price = Decimal(str(features["close"].iat[start]))
        side = rng.choice([TradeType.BUY, TradeType.SELL])
        depth, top = Decimal(str(rng.choice([0.004, 0.01]))), Decimal("0.003")
        low, high = (price * (1 - depth), price * (1 + top)) if side == TradeType.BUY else (price * (1 - top), price * (1 + depth))
        config = GridExecutorConfig(
            timestamp=features.index[start], connector_name=CONNECTOR, trading_pair=PAIR, side=side,
            start_price=low, end_price=high, limit_price=Decimal(0), total_amount_quote=Decimal(500),
            min_spread_between_orders=Decimal("0.001"), keep_position=rng.random() < 0.5,
            triple_barrier_config=TripleBarrierConfig(take_profit=Decimal("0.002"), time_limit=rng.choice([None, 7200]),
                                                      stop_loss=rng.choice([None, Decimal("0.01")])))
        end = len(features) - 1 if config.triple_barrier_config.time_limit is None else \
            int(np.searchsorted(features.index, config.timestamp + 7200, side="right")) - 1
        theirs = GridExecutorSimulator().simulate(features.iloc[start:end + 1], config, 0.0004)
        ours = GridRun(config, 0, start, end, Market(features), 0.0004, None)
        assert (ours.close, ours.close_type) == (start + len(theirs.executor_simulation) - 1, theirs.close_type)
        for tick in range(start, ours.close + 1):
            expected = theirs.get_executor_info_at_timestamp(features.index[tick]).model_dump()
            assert ours.info(tick).model_dump() == expected, (n, tick)
