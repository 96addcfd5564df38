"""Built-in controllers load with Hummingbot's own loader, like any user's controllers folder."""
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from hummingbot.strategy_v2.backtesting.backtesting_engine_base import BacktestingEngineBase

from hbopt.engine.controllers import config_class, list_controllers, load_config, search_space, use_controllers_path
from hbopt.search.storage import StudyFolder
from tests.conftest import CONNECTOR, PAIR, _controller_file, fields_controller, signal_controller

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


STAND_INS = Path(__file__).parents[1] / "search" / "hummingbot_controllers"  # Hummingbot's bollinger_v1, ...


def test_show_lists_a_controllers_fields_and_the_space_it_ships(hbopt):
    shown = json.loads(hbopt("controllers", "show", "bollinger", "--json").out)
    fields = {f["name"]: f for f in shown["fields"]}
    assert fields["bb_length"] == {"name": "bb_length", "type": "int", "default": 100, "required": False}
    assert set(fields["position_mode"]["choices"]) == {"ONEWAY", "HEDGE"}  # an enum's values
    assert (shown["search_space_source"], shown["search_space"]) == ("shipped", search_space("directional_trading",
                                                                                             "bollinger"))


def test_a_controller_without_a_space_gets_one_around_its_defaults(hbopt):
    shown = json.loads(hbopt("controllers", "show", "bollinger_v1", "--controllers-path", STAND_INS, "--json").out)
    space = shown["search_space"]
    assert shown["search_space_source"] == "inferred"
    assert space["bb_length"] == {"type": "int", "low": 50, "high": 200, "step": 10}  # default 100
    assert space["stop_loss"] == {"type": "float", "low": 0.015, "high": 0.06, "step": 0.003}  # default 0.03
    assert space["take_profit_order_type"] == {"type": "categorical", "choices": [1, 2, 3]}  # MARKET, LIMIT, LIMIT_MAKER
    # the market, the account and sentinels stay as set: no leverage, capital, pair, zero default or string
    assert not set(space) & {"leverage", "total_amount_quote", "trading_pair", "position_mode", "bb_long_threshold",
                             "interval", "manual_kill_switch", "trailing_stop"}
    grid = json.loads(hbopt("controllers", "show", "grid_strike", "--controllers-path", STAND_INS, "--json").out)
    assert grid["search_space"]["keep_position"] == {"type": "categorical", "choices": [False, True]}
    assert not {"start_price", "end_price", "limit_price", "min_order_amount_quote"} & set(grid["search_space"])


def test_such_a_controller_is_searched_with_set_and_no_study_file(market, hbopt, tmp_path):
    mine = shutil.copytree(STAND_INS, tmp_path / "copied_controllers")
    run = hbopt("discover", "--controller", "bollinger_v1", "--controllers-path", mine, "--connector", CONNECTOR,
                "--pairs", PAIR, "--days", "2", "--iter", "3", "--workers", "1", "--holdout", "0", "--no-validate",
                "--no-report", "--set", f"candles_connector={CONNECTOR}", "--set", f"candles_trading_pair={PAIR}",
                "--set", "interval=1m", "--set", "stop_loss=0.02", "--json")
    assert run.code == 0, run.err
    [summary] = json.loads(run.out)
    assert summary["complete"] == 3 and "bb_length" in summary["best"][0]["params"]
    assert "stop_loss" not in summary["best"][0]["params"]  # fixed with --set: not searched
    config = StudyFolder(summary["study"]).load().trials[0].user_attrs["configs"][0]
    assert (config["stop_loss"], config["interval"]) == (0.02, "1m")

    # the study remembers where its controller is, and that it is the code its trials ran
    assert hbopt("validate", summary["study"], "--workers", "1", "--json").code == 0
    source = mine / "directional_trading" / "bollinger_v1.py"
    source.write_text(source.read_text() + "# edited\n")
    changed = hbopt("validate", summary["study"], "--workers", "1")
    assert changed.code == 4 and "changed since the study ran it" in changed.err
    mine.rename(tmp_path / "moved")
    moved = hbopt("validate", summary["study"], "--workers", "1")
    assert moved.code == 4 and "which is no longer a folder: pass --controllers-path" in moved.err


def test_a_field_without_a_default_is_named_with_the_set_that_gives_it(market, hbopt, tmp_path):
    mine = fields_controller(tmp_path / "needs_controllers", "needs", "window: int\nthreshold: float = 0.5")
    run = hbopt("discover", "--controller", "needs", "--controllers-path", mine, "--connector", CONNECTOR,
                "--pairs", PAIR, "--days", "1", "--iter", "2", "--workers", "1", "--study", "needs")
    assert run.code == 4 and "window has no default: give it with --set window=..." in run.err
    assert not StudyFolder("needs").exists()


def test_list_fields_take_one_number_or_several_alike(tmp_path):
    """Hummingbot's dman_maker_v2 took dca_spreads=[0.01] but refused 0.01: a list field without
    a validator of its own now takes 0.01, "0.01,0.02" and [0.01] alike."""
    mine = fields_controller(tmp_path / "levels_controllers", "levels", "spreads: List[Decimal] = [Decimal('0.01')]")
    module = use_controllers_path(mine)
    base = {"controller_name": "levels", "connector_name": CONNECTOR, "trading_pair": PAIR}
    for given, expected in ((0.02, [Decimal("0.02")]), ("0.01,0.02", [Decimal("0.01"), Decimal("0.02")]),
                            ([0.03], [Decimal("0.03")])):
        assert load_config({**base, "spreads": given}, module).spreads == expected


@pytest.mark.parametrize("name, path", [("ma_cross", None), ("pmm", None), ("bollinger_v1", STAND_INS),
                                        ("grid_strike", STAND_INS)])
def test_space_init_writes_a_study_file_that_searches_what_no_file_would(hbopt, tmp_path, name, path):
    from hbopt.search.spec import study_spec

    options = ["--controllers-path", path] if path else []
    run = hbopt("space", "init", name, *options)
    assert run.code == 0, run.err
    assert run.out.startswith(f"# A study of {name} ")
    written = tmp_path / "study.yml"
    written.write_text(run.out)
    from_file, _ = study_spec(written, controllers_path=path, pairs=PAIR)
    without, _ = study_spec(controller=name, controllers_path=path, pairs=PAIR)
    assert from_file.to_dict() == without.to_dict()


def test_defaults_a_validator_reads_are_validated_as_hummingbots_yaml_gives_them(tmp_path):
    """Hummingbot's pmm_simple defaults buy_spreads to the text "0.01,0.02" and buy_amounts_pct to
    None, both made lists by its validators: live, its YAML holds every field and they run;
    pydantic never validates a default, so a config that left them out read the text's nine
    characters as levels and failed on None."""
    _controller_file(tmp_path / "validated", "directional_trading", "validated").write_text(
        "from decimal import Decimal\n"
        "from typing import List, Optional\n"
        "from pydantic import field_validator\n"
        "from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (\n"
        "    DirectionalTradingControllerBase, DirectionalTradingControllerConfigBase)\n\n\n"
        "class ValidatedConfig(DirectionalTradingControllerConfigBase):\n"
        "    controller_name: str = 'validated'\n"
        "    spreads: List[float] = '0.01,0.02'\n"
        "    amounts: Optional[List[Decimal]] = None\n"
        "    untouched: Optional[int] = None\n\n"
        "    @field_validator('spreads', mode='before')\n"
        "    @classmethod\n"
        "    def parse_spreads(cls, v):\n"
        "        return [float(x) for x in v.split(',')] if isinstance(v, str) else v\n\n"
        "    @field_validator('amounts', mode='before')\n"
        "    @classmethod\n"
        "    def equal_amounts(cls, v, info):\n"
        "        return [1] * len(info.data['spreads']) if v is None else v\n\n\n"
        "class Validated(DirectionalTradingControllerBase):\n"
        "    pass\n")
    module = use_controllers_path(tmp_path / "validated")
    base = {"controller_name": "validated", "connector_name": CONNECTOR, "trading_pair": PAIR}
    config = load_config(base, module)
    assert (config.spreads, config.amounts, config.untouched) == ([0.01, 0.02], [Decimal(1), Decimal(1)], None)
    given = load_config({**base, "spreads": "0.01,0.02,0.03"}, module)
    assert given.amounts == [Decimal(1)] * 3
    assert config.id == load_config(base, module).id  # the id is the given config's, as before
