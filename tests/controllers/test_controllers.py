"""Built-in controllers load with Hummingbot's own loader, like any user's controllers folder."""
import json

import pytest
from hummingbot.strategy_v2.backtesting.backtesting_engine_base import BacktestingEngineBase

from hbopt.engine.controllers import config_class, list_controllers, search_space
from tests.conftest import CONNECTOR, PAIR, signal_controller

BUILTINS = {"pmm": "market_making", "bollinger": "directional_trading", "ma_cross": "directional_trading",
            "grid": "generic", "market_maker": "generic"}


def test_the_builtins_are_listed_with_their_types():
    found = {e["name"]: e["type"] for e in list_controllers() if e["package"] == "hbopt.controllers"}
    assert found == BUILTINS


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_hummingbots_loader_loads_each_builtin(name):
    cfg = {"id": "x", "controller_name": name, "controller_type": BUILTINS[name],
           "connector_name": CONNECTOR, "trading_pair": PAIR}
    config = BacktestingEngineBase.get_controller_config_instance_from_dict(cfg, controllers_module="hbopt.controllers")
    assert config.controller_name == name
    assert config.get_controller_class().__module__ == f"hbopt.controllers.{BUILTINS[name]}.{name}"


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_each_builtin_ships_a_search_space_over_its_own_fields(name):
    space = search_space(BUILTINS[name], name)
    fields = config_class(BUILTINS[name], name).model_fields
    assert space and set(space) <= set(fields)
    for spec in space.values():
        assert spec["type"] in ("int", "float", "categorical")
        assert spec["type"] == "categorical" and spec["choices"] or spec["low"] < spec["high"]


def test_a_users_controllers_folder_loads_the_same_way(market, hbopt, tmp_path):
    controllers = signal_controller(tmp_path / "my_controllers", "always_long", 1)
    listed = hbopt("controllers", "list", "--controllers-path", controllers, "--json")
    assert {"name": "always_long", "type": "directional_trading", "package": "my_controllers",
            "search_space": {}} in json.loads(listed.out)
    run = hbopt("backtest", "--controllers-path", controllers, "--controller", "always_long",
                "--connector", CONNECTOR, "--pair", PAIR, "--days", "1", "--json")
    assert run.code == 0, run.err
    result = json.loads(run.out)
    assert result["total_long"] > 0 and result["total_short"] == 0
