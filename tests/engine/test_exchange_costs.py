"""The exchange cost model, rule by rule: each case a few hand-made candles and a scripted
controller, run in both engines (``run`` asserts them identical), its fills worked out by hand.
Costs: maker 0.02%, taker 0.05%, slippage 2 bps, on binance_perpetual (maintenance margin 0.4%,
liquidation fee 1.25%); prices need to trade through by one increment (0.001 at 100 without
trading rules: six significant digits)."""
import pytest

from hbopt.cache import synth
from hbopt.cache.mirror import Mirror
from hbopt.engine import backtest
from hbopt.engine.exchange.costs import Costs
from hbopt.errors import ConfigError
from tests.conftest import CONNECTOR, KEY_1M, PAIR
from tests.engine.test_account import CANDLES, at, fills, grid, order, replayed, run

COSTS = Costs("exchange", maker_fee=0.0002, taker_fee=0.0005, slippage_bps=2)
CALM = [(100, 100, 100, 100), (100, 100.5, 99.5, 100)]  # minute 0, and minute 1 where orders are placed


def position(side, barriers, entry_price=100, open_order_type="MARKET", **fields):
    return {"at": at(1), "create": {"type": "position", "side": side, "amount": 1, "entry_price": entry_price,
                                    "level_id": "p", "barriers": {"open_order_type": open_order_type, **barriers},
                                    **fields}}


def test_a_resting_limit_fills_at_its_price_once_the_market_trades_through_it():
    """A buy at 99 placed on minute 1: minute 2's low touches 99 (no fill: the queue ahead of it
    may not have cleared), minute 3's 97.5 trades through: bought at 99, maker. Its time limit
    closes it on minute 8 at the close 101.5 less 2 bps, taker. Hummingbot's model buys on
    minute 2, at that close."""
    script = [position("BUY", {"time_limit": 420}, entry_price=99, open_order_type="LIMIT")]
    result = run(script, costs=COSTS)
    assert fills(result) == [(3, "entry", "BUY", 99, 1, pytest.approx(0.0198)),
                             (8, "time_limit", "SELL", pytest.approx(101.4797), 1, pytest.approx(0.05073985))]
    assert [f["liquidity"] for f in result["ledger"]["fills"]] == ["maker", "taker"]
    assert result["account"]["pnl_quote"] == pytest.approx(101.4797 - 99 - 0.0198 - 0.05073985)
    assert fills(run(script))[0][:4] == (2, "entry", "BUY", 99)


def test_a_stop_the_market_gapped_through_fills_at_the_open():
    """Long at 100.02 (the close slipped), stop 1% below: 99.0198. Minute 3 opens at 97: the stop
    sells there, at 97 less 2 bps, not at its stop price."""
    candles = CALM + [(100, 100.2, 99.6, 99.8), (97, 97.5, 96.5, 97), (97, 98, 96.8, 97.5)]
    result = run([position("BUY", {"stop_loss": 0.01})], candles=candles, costs=COSTS)
    assert fills(result) == [(1, "entry", "BUY", pytest.approx(100.02), 1, pytest.approx(0.05001)),
                             (3, "stop_loss", "SELL", pytest.approx(96.9806), 1, pytest.approx(0.0484903))]
    assert result["account"]["pnl_quote"] == pytest.approx(96.9806 - 100.02 - 0.05001 - 0.0484903)


def test_when_one_candle_reaches_the_stop_and_the_take_profit_the_stop_is_taken():
    """Long at 100.02, stop at 99.0198, take profit as a limit at 101.0202: minute 2 spans 98.5 to
    102. The conservative order says the stop came first: sold at 99.0198 less 2 bps."""
    candles = CALM + [(100, 102, 98.5, 100.5), (100.5, 101, 100, 100.5)]
    result = run([position("BUY", {"stop_loss": 0.01, "take_profit": 0.01, "take_profit_order_type": "LIMIT"})],
                 candles=candles, costs=COSTS)
    [_, exit_] = fills(result)
    assert exit_[:4] == (2, "stop_loss", "SELL", pytest.approx(99.0198 * 0.9998))


def test_a_take_profit_limit_fills_at_its_price_as_a_maker():
    candles = CALM + [(100, 101, 99.8, 100.8), (100.8, 101.2, 100.5, 101)]
    result = run([position("BUY", {"take_profit": 0.01, "take_profit_order_type": "LIMIT"})], candles=candles,
                 costs=COSTS)
    [_, exit_] = result["ledger"]["fills"]
    assert (exit_["kind"], exit_["price"], exit_["order_price"], exit_["liquidity"]) == (
        "take_profit", pytest.approx(101.0202), pytest.approx(101.0202), "maker")
    assert result["ledger"]["executors"][0]["close_timestamp"] == at(3)  # minute 2's high of 101 is short of it


@pytest.mark.parametrize("kind", ["position", "order"])
def test_a_limit_maker_that_would_cross_is_rejected_and_the_ledger_says_so(kind):
    """A buy at 101 when the close is 100 would take the book: the exchange rejects a limit-maker,
    so nothing trades; the executor fails where it was placed."""
    create = (position("BUY", {"time_limit": 300}, entry_price=101, open_order_type="LIMIT_MAKER") if kind == "position"
              else order("BUY", 1, "o", strategy="LIMIT_MAKER", price=101))
    result = run([create], costs=COSTS)
    assert fills(result) == [(1, "rejected", "BUY", 101, 0, 0)]
    assert result["account"]["pnl_quote"] == 0 and result["account"]["fills"] == 0
    [executor] = result["ledger"]["executors"]
    assert executor["close_type"] == "FAILED" and executor["close_timestamp"] == at(1)


def test_a_plain_limit_that_would_cross_fills_at_once_as_a_taker():
    result = run([order("BUY", 1, "o", strategy="LIMIT", price=101)], costs=COSTS)
    assert fills(result)[0] == (1, "order", "BUY", pytest.approx(100.02), 1, pytest.approx(0.05001))
    assert result["ledger"]["fills"][0]["liquidity"] == "taker"


def test_a_leveraged_position_is_liquidated_where_its_loss_reaches_its_margin():
    """Long 1 at 100.02 with 20x leverage: margin 5% of the notional, maintenance 0.4%, so it is
    liquidated at 100.02 x (1 - 0.046) = 95.41908, before its 10% stop, with the 1.25% fee; the
    result warns."""
    candles = CALM + [(100, 100.2, 99, 99.5), (99.5, 99.6, 95, 95.5), (95.5, 96, 95, 95.8)]
    result = run([position("BUY", {"stop_loss": 0.1}, leverage=20)], candles=candles, costs=COSTS)
    assert fills(result)[1] == (3, "liquidation", "SELL", pytest.approx(95.41908), 1, pytest.approx(0.0125 * 95.41908))
    assert result["account"]["pnl_quote"] == pytest.approx(95.41908 - 100.02 - 0.05001 - 0.0125 * 95.41908)
    assert replayed(result) == pytest.approx(result["account"]["pnl_quote"])
    assert any(w.startswith("1 position was liquidated") for w in result["warnings"])


def test_at_a_funding_time_a_long_pays_and_a_short_receives_on_its_notional_at_the_close():
    """A long of 2 and a short of 1, both opened on minute 1 and closed by their time limit on
    minute 6. Funding of +0.01% at minute 3: the long pays 2 x 100.8 (minute 3's close) x 0.0001,
    the short receives 1 x 100.8 x 0.0001. A rate of -0.02% between minutes 4 and 5 is charged on
    minute 5, at its close of 100.2: the long receives, the short pays. One at minute 7, when
    nothing is open, charges nothing. Each is a ``funding`` row of its executor, the ledger
    still adding up to the account."""
    candles = CALM + [(100, 101, 99.5, 100.5), (100.5, 101, 100, 100.8), (100.8, 101, 100.2, 100.4),
                      (100.4, 100.6, 100, 100.2), (100.2, 100.4, 99.8, 100), (100, 100.2, 99.9, 100.1)]
    script = [position("BUY", {"time_limit": 300}, amount=2, level_id="long"),
              position("SELL", {"time_limit": 300}, level_id="short")]
    result = run(script, candles=candles, costs=COSTS, funding=[(at(3), 0.0001), (at(4) + 30, -0.0002),
                                                                  (at(7), 0.0001)])
    rows = [(m, f["executor"] == result["ledger"]["executors"][0]["id"], f["side"], f["price"], f["amount"],
             f["fee_quote"]) for m, f in zip((r[0] for r in fills(result)), result["ledger"]["fills"])
            if f["kind"] == "funding"]
    assert rows == [(3, True, "BUY", 100.8, 0, pytest.approx(2 * 100.8 * 0.0001)),
                    (3, False, "SELL", 100.8, 0, pytest.approx(-100.8 * 0.0001)),
                    (5, True, "BUY", 100.2, 0, pytest.approx(-2 * 100.2 * 0.0002)),
                    (5, False, "SELL", 100.2, 0, pytest.approx(100.2 * 0.0002))]
    account = result["account"]
    assert account["funding_quote"] == pytest.approx(100.8 * 0.0001 - 100.2 * 0.0002)
    assert account["fees_quote"] == pytest.approx(sum(f[5] for f in fills(result) if f[1] != "funding"))
    assert account["fills"] == 4 and replayed(result) == pytest.approx(account["pnl_quote"])
    assert not any("funding" in w for w in result["warnings"])
    hummingbots = run(script, candles=candles, funding=[(at(3), 0.0001)])
    assert hummingbots["account"]["funding_quote"] == 0 and "funding" not in {f[1] for f in fills(hummingbots)}


def test_a_perpetual_window_without_funding_rates_warns_naming_the_pair_and_charges_none():
    result = run([position("BUY", {"time_limit": 300})], costs=COSTS)
    assert result["account"]["funding_quote"] == 0
    assert any(w.startswith("no funding rates for binance_perpetual BTC-USDT in the window: none charged")
               for w in result["warnings"])
    partial = run([position("BUY", {"time_limit": 300})], candles=CANDLES * 60, costs=COSTS, funding=[(at(1), 0.0001)])
    assert any(w.startswith("funding rates for binance_perpetual BTC-USDT cover only") for w in partial["warnings"])


def test_executors_without_an_exchange_model_are_refused_not_simulated_as_hummingbot_does():
    market_exits = grid(1, False, 97, 0, 360)
    market_exits["create"]["barriers"]["take_profit_order_type"] = "MARKET"
    with pytest.raises(ConfigError, match=r"grid \(with market orders\) executors have no exchange cost model"):
        run([market_exits], costs=COSTS)


def test_the_result_records_the_model_and_the_rates_it_charged():
    costs = run([order("BUY", 1, "o")], candles=CANDLES, costs=COSTS)["costs"]
    assert costs["model"] == "exchange" and costs["charged"]["taker"] == 0.0005
    assert costs["charged"]["perpetual"] and costs["charged"]["maintenance_margin"] == 0.004


def test_grid_levels_rest_from_the_tick_after_they_are_placed_and_fill_at_their_price():
    """A buy grid from 97 to 101 made on minute 1 (close 100): levels at 97, 98.33, 99.67 and 101,
    50 quote each. The 101 level would cross, so it rests just below the close (99.99, the live
    executor's safe spread of 0.01%). Minute 2's low of 99 trades through 99.67 and 99.99; minute
    3's 97.5 through 98.33. Each take profit rests at its level's price plus 1% and fills when a
    high trades through it (minutes 4, 5, 6). Hummingbot's model fills the creation candle itself."""
    script = [grid(1, False, 97, 0, 360)]
    script[0]["create"]["barriers"].update(open_order_type="LIMIT_MAKER", take_profit_order_type="LIMIT_MAKER")
    result = run(script, costs=COSTS)
    entries = [(m, p) for m, kind, _, p, _, _ in fills(result) if kind == "grid_level"]
    exits = [(m, p) for m, kind, _, p, _, _ in fills(result) if kind == "take_profit"]
    assert entries == [(2, pytest.approx(99 + 2 / 3)), (2, pytest.approx(99.99)), (3, pytest.approx(98 + 1 / 3))]
    assert exits == [(4, pytest.approx((98 + 1 / 3) * 1.01)), (5, pytest.approx((99 + 2 / 3) * 1.01)),
                     (6, pytest.approx(101 * 1.01))]
    assert all(f["liquidity"] == "maker" for f in result["ledger"]["fills"])
    round_trips = 50 * (1.01 * (98 + 1 / 3) / (98 + 1 / 3) - 1) + 50 * 0.01 + 50 * (101 * 1.01 / 99.99 - 1)
    assert result["account"]["pnl_quote"] == pytest.approx(round_trips - 0.0002 * result["account"]["volume_quote"])
    assert fills(run([grid(1, False, 97, 0, 360)]))[0][0] == 1


def test_on_a_random_walk_a_market_maker_filled_at_its_own_prices_has_no_edge(store):
    """The fill model and the market must not make money where none can be made: a market maker
    quoting 0.1% and 0.2% from the close on a martingale for 14 days, filled only where the market
    traded through its quotes, loses (its trading makes less than its fees), where Hummingbot's
    summary of the same run shows a profit. (With candle wicks a fifth longer than a random
    path's, as the synthetic market once drew them, this account made +60.)"""
    store.add(KEY_1M, synth.generate(15, "1m", seed=4, regime="walk"), {"source": "synth", "synthetic": True})
    Mirror.default().refresh()
    config = {"controller_name": "market_maker", "connector_name": CONNECTOR, "trading_pair": PAIR,
              "buy_spreads": "0.001,0.002", "sell_spreads": "0.001,0.002"}
    result = backtest(config, days=14, engine="turbo", costs=Costs("exchange"))
    assert result["account"]["fills"] > 5000 and result["account"]["pnl_quote"] < 0 < result["net_pnl_quote"]
