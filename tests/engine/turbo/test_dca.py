"""DCA executors: Hummingbot's DCA simulator is broken on the verified release, so turbo hands any
run creating one to the stock engine, saying why, and the result is Hummingbot's."""
from hbopt.engine.parity import differences
from tests.conftest import dca_controller
from tests.engine.turbo.parity import DAY, both_engines, market_source
from hbopt.engine.controllers import use_controllers_path


def test_a_controller_creating_dca_executors_runs_on_the_stock_engine_and_says_why(tmp_path):
    module = use_controllers_path(dca_controller(tmp_path / "dca_controllers", "one_level_dca"))
    candles, last = market_source("ranging")
    stock, turbo = both_engines({"controller_name": "one_level_dca"}, candles, last - DAY, last, user_module=module)
    assert turbo["engine"] == "stock"
    assert "DCA simulator is broken" in turbo["turbo_fallback"]
    assert stock["total_executors"] > 0 and differences(stock, turbo) == []
