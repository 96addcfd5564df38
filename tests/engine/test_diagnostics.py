"""Degenerate runs look normal in their numbers; their results say what is wrong with them."""
import json
from decimal import Decimal
from types import SimpleNamespace

from hbopt.engine.diagnostics import outcome_warnings
from tests.conftest import CONNECTOR, PAIR


def test_a_time_limit_shorter_than_the_resolution_closes_every_position_at_its_entry_price(market, hbopt):
    """Bollinger's default time_limit (2700 s) at 1h: every position lives one tick, PnL = -fees
    (under Hummingbot's costs: the exchange's add the slippage of both legs)."""
    run = hbopt("backtest", "--controller", "bollinger", "--connector", CONNECTOR, "--pair", PAIR, "--resolution", "1h",
                "--set", "interval=1h", "--set", "bb_length=20", "--set", "bb_std=1.0", "--days", "10", "--json",
                "--costs", "hummingbot")
    assert run.code == 0, run.err
    result = json.loads(run.out)
    positions = result["total_positions"]
    assert positions > 5 and result["net_pnl_quote"] == -result["total_fees_quote"]
    assert "time_limit 2700 s is shorter than the 1h resolution: a position closes on the tick it opens, " \
           "at its entry price" in result["warnings"]
    assert f"all {positions} positions closed at their entry price: the PnL is only the fees" in result["warnings"]


def test_no_executor_at_all_is_said_and_shown_on_the_terminal(market, hbopt):
    run = hbopt("backtest", "--controller", "bollinger", "--connector", CONNECTOR, "--pair", PAIR, "--days", "2",
                "--set", "bb_length=50", "--set", "bb_std=20")
    assert run.code == 0, run.err
    assert "warning: no executor was created in the window" in run.err


def executor(filled: float, pnl_pct: float):
    return SimpleNamespace(filled_amount_quote=Decimal(filled), net_pnl_pct=Decimal(pnl_pct), close_type=None)


def test_too_few_positions_or_none_filled_are_flagged():
    assert outcome_warnings([executor(100, 0.01), executor(100, -0.02), executor(0, 0)], 0.0006) == \
        ["only 2 position(s): too few for the metrics to mean much"]
    assert outcome_warnings([executor(0, 0)] * 3, 0.0006) == \
        ["none of the 3 executors ever filled: no position was taken"]
    assert outcome_warnings([executor(100, 0.01 * (i % 3 - 1)) for i in range(12)], 0.0006) == []
