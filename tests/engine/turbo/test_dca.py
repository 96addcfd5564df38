"""DCA executors: Hummingbot's DCA simulator is broken on the verified release, so turbo hands any
run creating one to the stock engine, saying why, and the result is Hummingbot's."""
import pytest

from hbopt.engine import backtest
from hbopt.engine.controllers import use_controllers_path
from hbopt.engine.exchange.costs import Costs
from hbopt.engine.parity import differences
from hbopt.errors import ControllerError
from tests.conftest import dca_controller
from tests.engine.turbo.parity import DAY, both_engines, market_source

HUMMINGBOT = Costs("hummingbot")  # DCA executors have no exchange model


def test_a_controller_creating_dca_executors_runs_on_the_stock_engine_and_says_why(tmp_path):
    module = use_controllers_path(dca_controller(tmp_path / "dca_controllers", "one_level_dca"))
    candles, last = market_source("ranging")
    stock, turbo = both_engines({"controller_name": "one_level_dca"}, candles, last - DAY, last, user_module=module,
                                costs=HUMMINGBOT)
    assert turbo["engine"] == "stock"
    assert "DCA simulator is broken" in turbo["turbo_fallback"]
    assert stock["total_executors"] > 0 and differences(stock, turbo) == []


def test_when_hummingbots_dca_simulator_fails_the_error_says_why_turbo_stepped_aside(tmp_path):
    module = use_controllers_path(dca_controller(tmp_path / "two_level_dca_controllers", "two_level_dca"))
    candles, last = market_source("ranging")
    with pytest.raises(ControllerError) as failure:
        backtest({"controller_name": "two_level_dca", "levels": 2}, last - DAY, last, engine="turbo", costs=HUMMINGBOT,
                 candles=candles,
                 user_module=module)
    assert "dca_executor_simulator.py" in str(failure.value)
    assert "turbo stepped aside: the controller created a DCA executor" in str(failure.value)
