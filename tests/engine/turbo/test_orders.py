"""Order executors and the position holds they fill into: the turbo engine gives Hummingbot's
answers for random configs of the built-in market maker (a generic controller, consulted on every
tick), for random orders of every execution strategy created and stopped by a generic controller,
and for spot market making, which rebalances its inventory with order executors; the random
configs under Hummingbot's cost model and the exchange's in turn."""
import random

import pytest

from hbopt.engine.parity import differences
from tests.conftest import CONNECTOR, PAIR
from tests.engine.turbo.parity import COST_MODELS, DAY, MARKETS, both_engines, chaos_runs, close_types, market_source

SPREADS = ["0.0005", "0.001,0.002", "0.0005,0.002,0.004"]


def random_market_maker(rng: random.Random) -> dict:
    return {"controller_name": "market_maker", "connector_name": CONNECTOR, "trading_pair": PAIR,
            "buy_spreads": rng.choice(SPREADS), "sell_spreads": rng.choice(SPREADS),
            "order_amount_quote": rng.choice([20, 100]), "order_refresh_time": rng.choice([60, 300, 900]),
            "filled_order_delay": rng.choice([0, 60, 600]), "max_inventory_quote": rng.choice([100, 1000])}


@pytest.mark.parametrize("market", sorted(MARKETS))
def test_random_market_maker_configs_match(market):
    candles, last = market_source(market)
    rng = random.Random(f"market_maker/{market}")
    for n in range(3):
        config = random_market_maker(rng)
        end = last - rng.randrange(0, 6 * 3600, 60)
        stock, turbo = both_engines(config, candles, end - DAY // 2, end, trade_cost=rng.choice([0.0, 0.0004, 0.001]),
                                    costs=COST_MODELS[n % 2])
        assert turbo["engine"] == "turbo" and turbo["turbo_fallback"] is None
        assert differences(stock, turbo) == [], config
        assert stock["close_types"].get("POSITION_HOLD") and stock["unrealized_pnl_quote"] != 0


@pytest.mark.parametrize("market", sorted(MARKETS))
def test_random_orders_created_and_stopped_every_tick_match(market):
    """Market, limit, limit-maker and chaser orders; stops that keep a filled position or not."""
    assert {"EARLY_STOP", "POSITION_HOLD"} <= close_types(chaos_runs(market, range(3), kinds="order", create_rate=0.08))


def test_spot_market_making_rebalances_into_a_position_hold_under_turbo():
    candles, last = market_source("ranging")
    config = {"controller_name": "pmm", "connector_name": "binance", "trading_pair": PAIR,
              "buy_spreads": "0.001", "sell_spreads": "0.001"}
    stock, turbo = both_engines(config, candles, last - 3 * 3600, last)
    assert turbo["engine"] == "turbo" and turbo["turbo_fallback"] is None
    assert "POSITION_HOLD" in stock["close_types"] and stock["unrealized_pnl_quote"] != 0
    assert differences(stock, turbo) == []
