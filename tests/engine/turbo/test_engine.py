"""The turbo engine as a whole: executors of every kind from one controller, the comparison that
judges parity, and when turbo steps aside."""
import math

import numpy as np
import pytest

from hbopt.engine import backtest
from hbopt.engine.parity import differences
from tests.conftest import CONNECTOR, PAIR
from tests.engine.turbo.parity import DAY, MARKETS, both_engines, chaos_runs, market_source


@pytest.mark.parametrize("market", sorted(MARKETS))
def test_random_executors_of_every_kind_from_one_controller_match(market):
    """Position, order and grid executors side by side, stopped at random, with position holds
    netting what orders, stops and grids leave behind."""
    for stock in chaos_runs(market, range(10, 13), kinds="order,position,grid", create_rate=0.05):
        assert {"order", "position", "grid"} <= {e["level_id"].split("_")[0] for e in stock["ledger"]["executors"]}


def test_the_comparison_catches_any_single_change():
    candles, last = market_source("ranging")
    config = {"controller_name": "bollinger", "connector_name": CONNECTOR, "trading_pair": PAIR, "bb_length": 30}
    stock, turbo = both_engines(config, candles, last - DAY, last)
    assert differences(stock, turbo) == [] and len(turbo["ledger"]["executors"]) > 5
    for key, change in [("close_type", lambda v: "EARLY_STOP"), ("close_timestamp", lambda v: v + 60),
                        ("net_pnl_quote", lambda v: math.nextafter(v, math.inf)),
                        ("side", lambda v: "SELL" if v == "BUY" else "BUY")]:
        executors = [dict(e) for e in turbo["ledger"]["executors"]]
        executors[3][key] = change(executors[3][key])
        assert differences(stock, {**turbo, "ledger": {**turbo["ledger"], "executors": executors}}), key
    assert differences(stock, {**turbo, "profit_factor": math.nextafter(turbo["profit_factor"], 0)})
    account = {**turbo["account"], "pnl_quote": math.nextafter(turbo["account"]["pnl_quote"], 0)}
    assert differences(stock, {**turbo, "account": account})
    fills = [dict(f) for f in turbo["ledger"]["fills"]]
    fills[2]["price"] = math.nextafter(fills[2]["price"], 0)
    assert differences(stock, {**turbo, "ledger": {**turbo["ledger"], "fills": fills}})
    assert differences(stock, {**turbo, "ledger": {**turbo["ledger"], "executors": turbo["ledger"]["executors"][:-1]}})


def test_turbo_steps_aside_on_a_hummingbot_release_its_parity_suite_has_not_passed(monkeypatch):
    from hbopt.engine.turbo import policies

    monkeypatch.setattr(policies, "HUMMINGBOT_VERSION", "20991231")
    candles, last = market_source("ranging")
    config = {"controller_name": "bollinger", "connector_name": CONNECTOR, "trading_pair": PAIR, "bb_length": 30}
    stock, turbo = both_engines(config, candles, last - DAY // 4, last)
    assert turbo["engine"] == "stock"
    assert turbo["turbo_fallback"] == ("turbo's parity suite has not been run on hummingbot 20991231 "
                                       f"(verified: {', '.join(policies.VERIFIED_HUMMINGBOT)})")
    assert differences(stock, turbo) == []


def test_turbo_results_are_json_safe_and_reproducible():
    candles, last = market_source("gappy")
    config = {"controller_name": "pmm", "connector_name": CONNECTOR, "trading_pair": PAIR, "buy_spreads": "0.001"}
    first = backtest(config, last - DAY // 2, last, engine="turbo", candles=candles)
    again = backtest(first["config"], first["start"], first["end"], engine="turbo", candles=candles)
    assert first["net_pnl_quote"] == again["net_pnl_quote"] and np.isfinite(first["sharpe_ratio"])
