"""The account: every fill booked at its tick, open inventory marked at each close and at the end,
figures read off the equity. Each case is ten hand-made candles and a scripted controller, run in
both engines, its fills and PnL worked out by hand from the candles (Hummingbot's fill model:
entries and exits at the close of their tick, grid levels at their price, ``trade_cost`` per leg
on the entry's notional)."""
import json
import math

import numpy as np
import pytest

from hbopt.cache.windows import CandleWindows, resampling_source
from hbopt.engine import backtest
from hbopt.engine.account import Account, Fill, Ticks, annual_sharpe_of_equity
from hbopt.engine.exchange.costs import Costs
from hbopt.engine.parity import differences
from tests.engine.turbo.parity import chaos_runs, test_controllers

T0 = 1_700_000_000 // 60 * 60
COST = 0.001
#          open   high   low    close       minute
CANDLES = [(100, 100, 100, 100),          # 0
           (100, 100.5, 99.5, 100),       # 1
           (100, 101, 99, 99),            # 2
           (99, 99.5, 97.5, 98),          # 3
           (98, 100, 97.8, 99.5),         # 4
           (99.5, 101, 99, 100.5),        # 5
           (100.5, 102.5, 100, 102),      # 6
           (102, 103, 101.5, 102.5),      # 7
           (102.5, 103, 101, 101.5),      # 8
           (101.5, 102, 100.5, 101)]      # 9


def at(minute: int) -> int:
    return T0 + 60 * minute


def position(side, minute, level_id, barriers, entry_price=100, amount=1):
    return {"at": at(minute), "create": {"type": "position", "side": side, "amount": amount, "entry_price": entry_price,
                                         "level_id": level_id, "barriers": barriers}}


def order(side, minute, level_id, strategy="MARKET", price=100, amount=1):
    return {"at": at(minute), "create": {"type": "order", "side": side, "amount": amount, "price": price,
                                         "execution_strategy": strategy, "level_id": level_id}}


def grid(minute, keep_position, start, limit, time_limit):
    return {"at": at(minute), "create": {"type": "grid", "side": "BUY", "start_price": start, "end_price": 101,
                                         "limit_price": limit, "level_id": "g", "total_amount_quote": 200,
                                         "min_spread_between_orders": 0.01, "keep_position": keep_position,
                                         "barriers": {"take_profit": 0.01, "time_limit": time_limit}}}


def run(script, capital=1000, candles=CANDLES, costs=Costs("hummingbot"), funding=None):
    """The result of both engines (asserted identical, turbo having run) over ``candles`` (one a
    minute, the last one's close ends the run), with its ledger; ``funding`` is the pair's funding
    rates, as ``(timestamp, rate)`` rows."""
    minutes = np.array([[at(i), o, h, lo, c, 1.0, c, 1, 0.5, 0.5 * c] for i, (o, h, lo, c) in enumerate(candles)])
    rates = None if funding is None else np.array(funding, dtype=float).reshape(-1, 2)
    config = {"controller_name": "scripted", "script": json.dumps(script), "total_amount_quote": capital}
    source = CandleWindows(resampling_source(minutes, rates))
    stock, turbo = (backtest(config, at(0), at(len(candles) - 1), candles=source,
                             engine=engine, user_module=test_controllers(), ledger=True, trade_cost=COST, costs=costs)
                    for engine in ("stock", "turbo"))
    assert turbo["engine"] == "turbo" and differences(stock, turbo) == []
    return turbo


def fills(result):
    """(minute, kind, side, price, amount, fee) of each fill."""
    return [((f["timestamp"] - T0) / 60, f["kind"], f["side"], f["price"], f["amount"], f["fee_quote"])
            for f in result["ledger"]["fills"]]


def replayed(result) -> float:
    """The cash of every fill less every fee, as a user would add the ledger up."""
    return math.fsum((-1 if f["side"] == "BUY" else 1) * f["price"] * f["amount"] - f["fee_quote"]
                     for f in result["ledger"]["fills"])


CASES = {
    # a market buy at 100; take profit 1.5% net of 2 x 0.1% fees: first close above 101.7 is 102
    "take_profit": ([position("BUY", 1, "p", {"take_profit": 0.015, "open_order_type": "MARKET"})],
                    [(1, "entry", "BUY", 100, 1, 0.1), (6, "take_profit", "SELL", 102, 1, 0.1)], 1.8),
    # a limit buy at 99 fills on the first close at or below it (minute 2); the stop at 99 x 0.99 =
    # 98.01 is touched by minute 3's low and booked at its close
    "stop_loss": ([position("BUY", 1, "p", {"stop_loss": 0.01}, entry_price=99)],
                  [(2, "entry", "BUY", 99, 1, 0.099), (3, "stop_loss", "SELL", 98, 1, 0.099)], -1.198),
    # a market short at 100 for 240 s: closed at minute 5's close
    "time_limit": ([position("SELL", 1, "p", {"time_limit": 240, "open_order_type": "MARKET"})],
                   [(1, "entry", "SELL", 100, 1, 0.1), (5, "time_limit", "BUY", 100.5, 1, 0.1)], -0.7),
    # a market buy at 99.5 trailing 0.5% once 2% up (minute 6): minute 8 falls below the trail
    "trailing_stop": ([position("BUY", 4, "p", {"trailing_stop": [0.02, 0.005], "open_order_type": "MARKET"})],
                      [(4, "entry", "BUY", 99.5, 1, 0.0995), (8, "trailing_stop", "SELL", 101.5, 1, 0.0995)], 1.801),
    # stopped by the controller at minute 4: closed at that close
    "early_stop": ([position("BUY", 1, "p", {"open_order_type": "MARKET"}), {"at": at(4), "stop": "p"}],
                   [(1, "entry", "BUY", 100, 1, 0.1), (4, "early_stop", "SELL", 99.5, 1, 0.1)], -0.7),
    # a filled order leaves its position in the hold: marked at the last close less its fee
    "order": ([order("BUY", 1, "o")],
              [(1, "order", "BUY", 100, 1, 0.1), (9, "mark", "SELL", 101, 1, 0.101)], 0.799),
    # a hold built by a market buy, a limit buy (98.5, booked at minute 3's close of 98) and partly
    # closed by a sell; the last unit is marked at the end
    "hold": ([order("BUY", 1, "o1"), order("BUY", 2, "o2", "LIMIT", price=98.5), order("SELL", 6, "o3")],
             [(1, "order", "BUY", 100, 1, 0.1), (3, "order", "BUY", 98, 1, 0.098),
              (6, "order", "SELL", 102, 1, 0.102), (9, "mark", "SELL", 101, 1, 0.101)], 4.599),
    # levels at 98.5 and 101 (100 quote each); the close at 98 reaches the limit at 98.2 on minute 3:
    # the grid keeps the 101 level it entered on minute 1, marked at the end: two fees lost
    "grid_keep_position": ([grid(1, True, 98.5, 98.2, None)],
                           [(1, "grid_level", "BUY", 101, 100 / 101, 0.1), (9, "mark", "SELL", 101, 100 / 101, 0.1)],
                           -0.2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_account_books_each_fill_and_marks_what_is_left(case):
    script, expected, pnl = CASES[case]
    result = run(script)
    assert fills(result) == [pytest.approx(f) for f in expected]
    account = result["account"]
    assert account["pnl_quote"] == pytest.approx(pnl, abs=1e-9) and replayed(result) == pytest.approx(pnl, abs=1e-9)
    assert account["fees_quote"] == pytest.approx(sum(f[5] for f in expected))
    assert account["volume_quote"] == pytest.approx(sum(f[3] * f[4] for f in expected))
    assert account["fills"] == len(expected) and account["return_pct"] == pytest.approx(pnl / 1000)
    assert sum(result["pnl"]["values"]) == account["pnl_quote"] and account["ruined_at"] is None


def test_a_grid_round_trips_each_level_from_its_price_to_its_take_profit():
    """Levels at 97, 98.33, 99.67 and 101, 50 quote each; a level enters on a low at or below it
    (the creation candle's included) and takes profit at 1.01 x its price on a high that reaches it.
    The close of 102 on minute 6 leaves the range: six round trips, each 1% of 50 quote less two
    fees of 0.05."""
    result = run([grid(1, False, 97, 0, 360)])
    entries = [(m, p) for m, kind, _, p, _, _ in fills(result) if kind == "grid_level"]
    exits = [(m, p) for m, kind, _, p, _, _ in fills(result) if kind == "take_profit"]
    assert entries == [(1, pytest.approx(99 + 2 / 3)), (1, 101), (2, pytest.approx(99 + 2 / 3)),
                       (3, pytest.approx(98 + 1 / 3)), (4, pytest.approx(98 + 1 / 3)), (5, pytest.approx(99 + 2 / 3))]
    assert sorted(p for _, p in exits) == pytest.approx(sorted(p * 1.01 for _, p in entries))
    assert result["account"]["pnl_quote"] == pytest.approx(6 * (0.5 - 0.1))
    assert result["ledger"]["executors"][0]["close_type"] == "TAKE_PROFIT"


def test_hummingbots_summary_leaves_out_what_the_account_counts():
    """The hold case: Hummingbot's net PnL is the hold's realised PnL without any fee (102 less
    the average 99), and leaves the open unit out; the account made 4.599: more than 1% of its
    capital apart, which the result warns about."""
    result = run(CASES["hold"][0], capital=100)
    assert result["net_pnl_quote"] == pytest.approx(3.0) and result["unrealized_pnl_quote"] == pytest.approx(2.0)
    assert result["account"]["pnl_quote"] == pytest.approx(4.599)
    assert any(w.startswith("Hummingbot's net_pnl_quote (+3) is not what the account made (+4.599 quote)")
               for w in result["warnings"])


def test_an_account_whose_equity_reaches_zero_is_ruined_and_trades_no_more():
    """100 quote of capital buys 5,000 quote of base at 100: at minute 3's close of 98 the equity
    is 100 - 5,000 - 5 + 50 x 98 = -5. The inventory is closed there; the executor's own exit and a
    later order never happen."""
    result = run([position("BUY", 1, "p", {"time_limit": 420, "open_order_type": "MARKET"}, amount=50),
                  order("BUY", 5, "later")], capital=100)
    account = result["account"]
    assert fills(result) == [(1, "entry", "BUY", 100, 50, 5.0), (3, "mark", "SELL", 98, 50, pytest.approx(4.9))]
    assert account["ruined_at"] == at(3) and account["pnl_quote"] == pytest.approx(-109.9)
    assert account["max_drawdown_pct"] == pytest.approx(1.099)
    assert any(w.startswith("the account was ruined on ") for w in result["warnings"])


def test_the_drawdown_is_the_deepest_fall_of_the_marked_equity_from_its_peak():
    """The take-profit case marked at each close: the equity peaks at 1,000 before the entry and
    falls to 1000 - 0.1 - 2 (minute 3's close of 98) before it recovers."""
    account = run(CASES["take_profit"][0])["account"]
    assert account["max_drawdown_pct"] == pytest.approx(2.1 / 1000)


def test_the_sharpe_ratio_is_annualised_from_the_equitys_returns_per_period():
    changes = [10.0, -5.0, 20.0, 0.0]
    returns = np.array([10 / 1000, -5 / 1010, 20 / 1005, 0.0])
    assert annual_sharpe_of_equity(changes, 1000, 86400) == pytest.approx(
        returns.mean() / returns.std(ddof=1) * math.sqrt(365))
    assert annual_sharpe_of_equity([0.0, 0.0], 1000, 86400) == 0.0


def test_the_series_sums_to_the_pnl_exactly_whatever_the_rounding():
    rng = np.random.default_rng(5)
    ticks = Ticks(np.arange(5000) * 60.0, 100 + np.cumsum(rng.normal(0, 0.1, 5000)))
    trades = [Fill(int(t), "x", "order", int(s), float(ticks.close[t]), None, float(a), float(a) * 1e-4, "taker")
              for t, s, a in zip(rng.integers(0, 5000, 300), rng.choice([-1, 1], 300), rng.uniform(0.01, 3, 300))]
    account = Account(trades, ticks, 1000.0, 0.0004)
    series = account.series(0, 5000 * 60)
    assert sum(series["values"]) == account.pnl_quote and account.ledger()[-1]["kind"] == "mark"


def test_the_equity_a_chart_draws_keeps_the_deepest_drawdown_and_ends_on_the_pnl():
    rng = np.random.default_rng(6)
    ticks = Ticks(np.arange(5000) * 60.0, 100 + np.cumsum(rng.normal(0, 0.1, 5000)))
    trades = [Fill(int(t), "x", "order", int(s), float(ticks.close[t]), None, float(a), 0.0, "taker")
              for t, s, a in zip(rng.integers(10, 5000, 300), rng.choice([-1, 1], 300), rng.uniform(0.01, 3, 300))]
    account = Account(trades, ticks, 1000.0, 0.0004)
    curve = account.curve(start=600.0, points=100)
    assert len(curve["timestamp"]) == 100 and curve["timestamp"][0] == 600 and curve["timestamp"][-1] == 4999 * 60
    assert np.all(np.diff(curve["timestamp"]) > 0)
    assert curve["close"] == [ticks.close[int(t // 60)] for t in curve["timestamp"]]
    assert curve["equity"][-1] == 1000.0 + account.pnl_quote
    assert max(curve["drawdown_pct"]) == account.max_drawdown() > 0  # nothing traded before minute 10


@pytest.mark.parametrize("market", ["ranging", "gappy"])
def test_random_runs_replay_to_the_accounts_pnl_in_both_engines(market):
    """The chaos controller's orders, positions, grids and holds: the engines agree on every fill
    (``chaos_runs`` asserts it), the ledger replays to the PnL and the series sums to it."""
    for result in chaos_runs(market, range(40, 43), kinds="order,position,grid", create_rate=0.05):
        account = result["account"]
        assert account["fills"] > 10
        assert replayed(result) == pytest.approx(account["pnl_quote"], rel=1e-9, abs=1e-9)
        assert sum(result["pnl"]["values"]) == account["pnl_quote"]
