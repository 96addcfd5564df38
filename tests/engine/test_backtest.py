"""``hbopt backtest`` runs Hummingbot's own engine offline and gives Hummingbot's answers."""
import asyncio
import json
import re
from decimal import Decimal

import pandas as pd
import pytest
from hummingbot.strategy_v2.executors import data_types as executor_data_types

from hbopt.engine import backtest, data_window, offline
from tests.conftest import CONNECTOR, KEY_1M, PAIR

PARITY_CASES = {
    "bollinger": (["--set", "bb_length=60", "--set", "bb_std=1.8", "--set", "stop_loss=0.01",
                   "--set", "take_profit=0.008", "--set", "time_limit=1800", "--set", "trailing_stop=0.004,0.001"], 3),
    "ma_cross": (["--set", "fast_ma=3", "--set", "slow_ma=8", "--set", "ma_type=sma",
                  "--set", "take_profit=0.01", "--set", "stop_loss=0.006", "--set", "cooldown_time=60"], 4),
    "pmm": (["--set", "buy_spreads=0.001,0.003", "--set", "sell_spreads=0.001,0.003",
             "--set", "executor_refresh_time=300", "--set", "take_profit=0.002", "--set", "stop_loss=0.004",
             "--set", "time_limit=1800"], 1),
}


def hummingbot_direct(config: dict, start: int, end: int, store, trade_cost: float, hours_stamped_at_close=False):
    """Hummingbot's BacktestingEngineBase driven by hand: candles read from the store with pandas
    (1h by pandas' own resample), trading rules made here. ``hours_stamped_at_close`` stamps each
    1h candle with the minute it closes, how a Hummingbot user keeps the engine from looking ahead."""
    from hummingbot.connector.trading_rule import TradingRule
    from hummingbot.strategy_v2.backtesting.backtesting_engine_base import BacktestingEngineBase

    minutes = pd.read_parquet(store.path(KEY_1M))
    by_hour = minutes.set_index(pd.to_datetime(minutes["timestamp"], unit="s")).resample("1h")
    hours = pd.DataFrame({"open": by_hour["open"].first(), "high": by_hour["high"].max(),
                          "low": by_hour["low"].min(), "close": by_hour["close"].last(),
                          "volume": by_hour["volume"].sum(), "quote_asset_volume": by_hour["quote_asset_volume"].sum(),
                          "n_trades": by_hour["n_trades"].sum(),
                          "taker_buy_base_volume": by_hour["taker_buy_base_volume"].sum(),
                          "taker_buy_quote_volume": by_hour["taker_buy_quote_volume"].sum()})
    hours.insert(0, "timestamp", ((hours.index - pd.Timestamp(0)) // pd.Timedelta("1s")).astype(float)
                 + (3540 if hours_stamped_at_close else 0))
    hours = hours.reset_index(drop=True)  # the synthetic market starts and ends on whole hours

    engine = BacktestingEngineBase()
    provider = engine.backtesting_data_provider
    provider.candles_feeds[f"{CONNECTOR}_{PAIR}_1m"] = minutes
    provider.candles_feeds[f"{CONNECTOR}_{PAIR}_1h"] = hours
    provider.trading_rules[CONNECTOR] = {PAIR: TradingRule(PAIR, min_order_size=Decimal("1e-8"),
                                                           min_price_increment=Decimal("1e-8"),
                                                           min_base_amount_increment=Decimal("1e-8"))}
    controller_config = engine.get_controller_config_instance_from_dict(config, controllers_module="hbopt.controllers")
    with offline.offline():
        return asyncio.run(engine.run_backtesting(controller_config, start, end, "1m", trade_cost))


def comparable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "id"}  # executor ids are random per run


@pytest.mark.parametrize("timing", ["close", "open"])
@pytest.mark.parametrize("controller", sorted(PARITY_CASES))
def test_results_equal_hummingbots_engine_driven_directly(controller, timing, market, store, hbopt, tmp_path):
    """'open' is Hummingbot's own merge; 'close' equals Hummingbot fed hourly candles stamped at close."""
    args, days = PARITY_CASES[controller]
    ledger = tmp_path / "ledger.json"
    offline.install()  # no network for the whole command
    try:
        run = hbopt("backtest", "--controller", controller, "--connector", CONNECTOR, "--pair", PAIR, *args,
                    "--days", days, "--costs", "hummingbot", "--trade-cost", "0.0005", "--feature-timing", timing, "--json",
                    "--ledger", ledger, "--stock")
    finally:
        offline.uninstall()
    assert run.code == 0, run.err
    ours = json.loads(run.out)
    assert ours["feature_timing"] == timing
    theirs = hummingbot_direct(ours["config"], ours["start"], ours["end"], store, 0.0005,
                               hours_stamped_at_close=timing == "close")

    assert ours["total_executors"] > 3
    assert {k: ours[k] for k in theirs["results"]} == json.loads(json.dumps(theirs["results"]))
    from hbopt.engine.results import ledger_row
    assert [comparable(r) for r in json.loads(ledger.read_text())["executors"]] == \
        [comparable(ledger_row(info)) for info in theirs["executors"]]
    if controller == "ma_cross":  # its hourly features: the timing really changes the trades
        other = hummingbot_direct(ours["config"], ours["start"], ours["end"], store, 0.0005,
                                  hours_stamped_at_close=timing != "close")
        opened = [r["timestamp"] for r in json.loads(ledger.read_text())["executors"]]
        assert [ledger_row(info)["timestamp"] for info in other["executors"]] != opened


@pytest.mark.parametrize("engine", ["stock", "turbo"])
@pytest.mark.parametrize("costs", ["hummingbot", "exchange"])
def test_executors_created_on_one_tick_are_told_apart_when_hummingbots_ids_collide(engine, costs, market,
                                                                                     monkeypatch):
    """Hummingbot hashes an executor's id from its tick and random.randint(0, 99999): a market
    maker's orders placed together share an id about once in 100,000 pairs."""
    config = {"controller_name": "pmm", "connector_name": CONNECTOR, "trading_pair": PAIR,
              "buy_spreads": [0.001, 0.002], "sell_spreads": [0.001, 0.002]}
    apart = backtest(config, days=1, engine=engine, costs={"model": costs})
    monkeypatch.setattr(executor_data_types.random, "randint", lambda low, high: 7)
    together = backtest(config, days=1, engine=engine, costs={"model": costs})
    assert apart["account"]["fills"] > 20 and together["account"] == apart["account"]


def test_turbo_is_the_default_engine_and_stock_is_there_when_asked_for(market, hbopt):
    args = ("backtest", "--controller", "bollinger", "--connector", CONNECTOR, "--pair", PAIR, "--days", "1", "--json")
    engines = [json.loads(hbopt(*args, *flag).out)["engine"] for flag in ((), ("--turbo",), ("--stock",))]
    assert engines == ["turbo", "turbo", "stock"]


def test_a_result_carries_what_reproduces_it(market):
    config = {"controller_name": "bollinger", "connector_name": CONNECTOR, "trading_pair": PAIR, "bb_length": 50}
    first = backtest(config, days=2, candles=None)
    assert first["engine"] == "turbo" and first["resolution"] == "1m" and first["trade_cost"] == 0.0006  # the defaults
    assert first["end"] == market["timestamp"].iat[-1] and first["end"] - first["start"] == 2 * 86400
    assert first["config"]["bb_length"] == 50 and first["config"]["controller_type"] == "directional_trading"
    again = backtest(first["config"], first["start"], first["end"], first["resolution"], first["trade_cost"])
    keys = ("net_pnl_quote", "total_executors", "sharpe_ratio", "close_types", "max_drawdown_usd")
    assert {k: again[k] for k in keys} == {k: first[k] for k in keys}
    json.dumps(first, allow_nan=False)


def test_the_one_hour_feed_coexists_with_the_one_minute_feed(market):
    """ma_cross reads 1h candles while executing at 1m; both feeds are given, neither replaces the other."""
    result = backtest({"controller_name": "ma_cross", "connector_name": CONNECTOR, "trading_pair": PAIR,
                       "fast_ma": 3, "slow_ma": 8}, days=4)
    assert result["timings"]["ticks"] > 3 * 1440 and result["total_executors"] > 0


def test_a_result_carries_the_accounts_pnl_per_period_summing_to_its_pnl(market):
    config = {"controller_name": "ma_cross", "connector_name": CONNECTOR, "trading_pair": PAIR, "fast_ma": 3,
              "slow_ma": 8, "time_limit": 3600}
    result = backtest(config, days=4, engine="turbo", ledger=True)
    pnl = result["pnl"]
    assert pnl["period"] == 3600 and len(pnl["values"]) == 4 * 24  # 4 days, under 64 periods of 4 h
    assert sum(pnl["values"]) == result["account"]["pnl_quote"]
    first_fill = result["ledger"]["fills"][0]["timestamp"]  # the equity moves from the first fill on
    assert all(v == 0 for v in pnl["values"][:int((first_fill - result["start"]) // 3600)])
    # no position hold: the account made what Hummingbot's summary says, but for float rounding
    assert result["account"]["pnl_quote"] == pytest.approx(result["net_pnl_quote"], rel=1e-9)


def test_data_window_says_where_a_backtest_would_run_and_its_warm_up(market):
    config = {"controller_name": "ma_cross", "connector_name": CONNECTOR, "trading_pair": PAIR, "fast_ma": 3, "slow_ma": 8}
    window = data_window(config, days=4)
    result = backtest(config, days=4)
    assert (window["start"], window["end"]) == (result["start"], result["end"])
    assert window["warmup"] >= 8 * 3600  # 1h candles for the slow average at least


@pytest.mark.parametrize("args, message", [
    (["--days", "11.99"], r"1m candles cover .* but the window needs .* \(incl\. 61 candles of indicator warm-up\)"),
    (["--start", "2020-01-01", "--end", "2020-01-05"], r"cover .* but the window needs 2019-12-31"),
    (["--days", "2", "--resolution", "1h", "--set", "interval=1h"], "indicators ready: .* use a longer window"),
    (["--days", "4", "--resolution", "1h", "--set", "interval=1h", "--set", "bb_length=20"], None),
])
def test_a_window_the_data_does_not_cover_is_an_error_never_a_download(market, hbopt, args, message):
    run = hbopt("backtest", "--controller", "bollinger", "--connector", CONNECTOR, "--pair", PAIR,
                "--set", "bb_length=60", *args)
    if message is None:  # a covered window at a coarser resolution works, resampled from 1m
        assert run.code == 0, run.err
        return
    assert run.code == 3 and run.out == ""
    assert len(run.err.strip().splitlines()) == 1 and "Traceback" not in run.err
    assert re.search(message, run.err), run.err


@pytest.mark.parametrize("args, message", [
    (["--controller", "nope"], "unknown controller 'nope'"),
    (["--controller", "bollinger", "--set", "bb_lenght=100"], "unknown field(s) for controller bollinger: bb_lenght"),
    (["--controller", "bollinger", "--set", "bb_length=-5"], "invalid bollinger config: bb_length"),
    (["--controller", "ma_cross", "--set", "fast_ma=50", "--set", "slow_ma=20"], "fast_ma (50) must be below slow_ma"),
    (["--controller", "bollinger", "--resolution", "2m"], "unknown interval '2m'"),
])
def test_config_mistakes_are_one_line_errors_with_exit_code_4(market, hbopt, args, message):
    run = hbopt("backtest", "--connector", CONNECTOR, "--pair", PAIR, "--days", "1", *args)
    assert run.code == 4, run.err
    assert message in run.err and len(run.err.strip().splitlines()) == 1


def test_a_yaml_config_file_runs_like_hummingbots_own(market, hbopt, tmp_path):
    path = tmp_path / "my_controller.yml"
    path.write_text(f"controller_name: bollinger\ncontroller_type: directional_trading\n"
                    f"connector_name: {CONNECTOR}\ntrading_pair: {PAIR}\nbb_length: 40\ntotal_amount_quote: 500\n")
    run = hbopt("backtest", path, "--days", "2", "--json")
    assert run.code == 0, run.err
    result = json.loads(run.out)
    assert result["config"]["bb_length"] == 40 and result["config"]["total_amount_quote"] == 500
    (tmp_path / "broken.yml").write_text("controller_name: [unclosed\n")
    run = hbopt("backtest", tmp_path / "broken.yml")
    assert run.code == 4 and "broken.yml is not valid YAML" in run.err
