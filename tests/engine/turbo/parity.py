"""What the turbo parity tests share: seeded markets of several kinds, both engines on one config,
and a controllers folder of test controllers (``turbo_test_controllers``)."""
from pathlib import Path

from hbopt.cache import synth
from hbopt.cache.windows import CandleWindows, resampling_source
from hbopt.engine import backtest
from hbopt.engine.controllers import use_controllers_path
from hbopt.engine.exchange.costs import Costs
from hbopt.engine.parity import differences

DAY = 86400
MARKETS = {"trending": dict(regime="trending", seed=101), "ranging": dict(regime="ranging", seed=202),
           "gappy": dict(regime="mixed", seed=303, gap_rate=0.003)}
TEST_CONTROLLERS = Path(__file__).parent / "turbo_test_controllers"


def market_source(name: str, days: float = 5):
    """A market of kind ``name`` as a candle source, and its last minute's timestamp."""
    minutes = synth.generate(days, "1m", **MARKETS[name]).to_numpy()
    return CandleWindows(resampling_source(minutes), max_bytes=1 << 28), int(minutes[-1, 0])


def both_engines(config, candles, start, end, **kwargs):
    """(stock result, turbo result), each with its ledger."""
    stock = backtest(config, start, end, engine="stock", candles=candles, ledger=True, **kwargs)
    turbo = backtest(config, start, end, engine="turbo", candles=candles, ledger=True, **kwargs)
    return stock, turbo


def test_controllers() -> str:
    """The module name of the test controllers folder, made importable."""
    return use_controllers_path(TEST_CONTROLLERS)


test_controllers.__test__ = False  # a helper, not a test

TRADE_COSTS = (0.0, 0.0004, 0.001)
COST_MODELS = (Costs("hummingbot"), Costs("exchange"))


def chaos_runs(market: str, seeds, **config) -> list[dict]:
    """The stock results of the ``chaos`` test controller (``config`` over its defaults) on the last
    day of ``market``, one per seed, each at its own trade cost, cost model (Hummingbot's and the
    exchange's in turn) and feature timing, once turbo is asserted to have run each and matched it
    exactly."""
    candles, last = market_source(market)
    module = test_controllers()
    results = []
    for n, seed in enumerate(seeds):
        stock, turbo = both_engines({"controller_name": "chaos", "seed": seed, **config}, candles, last - DAY, last,
                                    user_module=module, trade_cost=TRADE_COSTS[n % len(TRADE_COSTS)],
                                    costs=COST_MODELS[n % 2], feature_timing=("close", "open")[n // 2 % 2])
        assert turbo["engine"] == "turbo"
        assert differences(stock, turbo) == [], seed
        results.append(stock)
    return results


def close_types(results: list[dict]) -> set[str]:
    """Every close type the results' executors ended with."""
    return {kind for result in results for kind in result["close_types"]}
