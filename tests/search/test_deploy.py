"""From a study to a running bot: ``study export-config`` writes a folder laid out like a
Hummingbot install, which Hummingbot's own loader reads from that folder, and whose configs
backtest in Hummingbot's engine to the study's numbers; ``backtest --json``'s config likewise."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hummingbot.strategy_v2.backtesting.backtesting_engine_base import BacktestingEngineBase

from hbopt.engine.controllers import config_class, config_to_dict, enums_by_value, use_controllers_path
from tests.conftest import CONNECTOR, PAIR

STAND_INS = Path(__file__).parent / "hummingbot_controllers"  # Hummingbot's grid_strike, pmm_v1, bollinger_v1

# Loads every exported config with Hummingbot's loader, from the export folder (on sys.path, as a
# Hummingbot install has its root), and backtests it in Hummingbot's engine under its costs.
LOAD_AND_BACKTEST = """
import json, sys
from pathlib import Path
folder, start, end, trade_cost, resolution = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
sys.path.insert(0, str(folder))
from hummingbot.strategy_v2.backtesting.backtesting_engine_base import BacktestingEngineBase
from hbopt.engine import backtest
from hbopt.engine.controllers import config_to_dict
conf = folder / "conf" / "controllers"
rows = []
for path in sorted(conf.glob("*.yml")):
    config = BacktestingEngineBase.get_controller_config_instance_from_yml(
        path.name, controllers_conf_dir_path=str(conf), controllers_module="controllers")
    assert type(config).__module__.startswith("controllers."), type(config).__module__
    r = backtest(config_to_dict(config), start, end, resolution, trade_cost, engine="stock", user_module="controllers",
                 costs={"model": "hummingbot"})
    rows.append({"file": path.name, "id": config.id, "account": r["account"], "net_pnl_quote": r["net_pnl_quote"]})
print(json.dumps(rows))
"""


def _prices(market) -> tuple[float, float]:
    last_day = market.iloc[-1440:]
    return float(last_day["low"].min()), float(last_day["high"].max())


def _stand_in_study(name: str, market) -> dict:
    low, high = _prices(market)
    if name == "grid_strike":
        return {"space": {"max_open_orders": {"type": "int", "low": 1, "high": 3},
                          "min_spread_between_orders": {"type": "float", "low": 0.0005, "high": 0.002, "step": 0.0005}},
                "fixed": {"start_price": round(low * 0.995), "end_price": round(high * 1.005),
                          "limit_price": round(low * 0.98), "leverage": 5, "side": 1, "total_amount_quote": 1000}}
    if name == "pmm_v1":
        return {"space": {"buy_spreads": {"type": "categorical", "choices": ["0.001,0.002", "0.002"]},
                          "order_refresh_time": {"type": "int", "low": 300, "high": 900, "step": 300}},
                "fixed": {"order_amount": 0.002, "total_amount_quote": 1000, "sell_spreads": "0.001,0.002"}}
    return {"space": {"bb_length": {"type": "int", "low": 20, "high": 60, "step": 10},
                      "bb_std": {"type": "float", "low": 1.5, "high": 2.5, "step": 0.5}},
            "fixed": {"interval": "1m", "stop_loss": 0.01, "take_profit": 0.01, "time_limit": 3600,
                      "candles_connector": CONNECTOR, "candles_trading_pair": PAIR}}  # its validators skip defaults


@pytest.mark.parametrize("controller", ["bollinger", "ma_cross", "pmm", "grid", "market_maker",
                                        "grid_strike", "pmm_v1", "bollinger_v1"])
def test_an_exported_best_loads_in_hummingbot_and_backtests_to_the_studys_numbers(controller, market, hbopt,
                                                                                   tmp_path):
    own = controller in ("grid_strike", "pmm_v1", "bollinger_v1")
    study = {"controller": controller, "connector": CONNECTOR, "pairs": [PAIR], "window": {"days": 1},
             "sampler": "random", "seed": 3, "costs": "hummingbot", "holdout": 0,
             **(_stand_in_study(controller, market) if own else {})}
    if controller == "ma_cross":  # its hourly averages warm up longer than the window
        study["fixed"] = {"interval": "5m"}
    (tmp_path / "study.yml").write_text(yaml.safe_dump(study))
    where = ["--controllers-path", STAND_INS] if own else []
    run = hbopt("discover", tmp_path / "study.yml", *where, "--iter", "2", "--workers", "1", "--study", "s",
                "--turbo", "--no-validate", "--no-report", "--quiet")
    assert run.code == 0, run.err
    best = json.loads(hbopt("study", "best", "s", "--top", "2", "--json").out)
    manifest = json.loads((tmp_path / "home" / "studies" / "s" / "manifest.json").read_text())

    written = json.loads(hbopt("study", "export-config", "s", "--best", "2", "--out", tmp_path / "deploy", *where,
                               "--json").out)
    deploy = tmp_path / "deploy"
    kind = manifest["spec"]["controller_type"]
    assert written["controllers"] == [str(deploy / "controllers" / kind / f"{controller}.py")]
    assert (deploy / "controllers" / "__init__.py").is_file() and (deploy / "controllers" / kind / "__init__.py").is_file()
    assert [Path(p).name for p in written["configs"]] == [f"s_1_{PAIR}.yml", f"s_2_{PAIR}.yml"][:len(best)]
    script = yaml.safe_load((deploy / "conf" / "scripts" / "s_1.yml").read_text())
    assert script == {"script_file_name": "v2_with_controllers.py", "controllers_config": [f"s_1_{PAIR}.yml"]}
    assert written["warnings"] == []

    window = manifest["windows"][PAIR]["in_sample"]
    loaded = subprocess.run([sys.executable, "-c", LOAD_AND_BACKTEST, deploy, *map(str, window),
                             str(manifest["spec"]["trade_cost"]), manifest["spec"]["resolution"]],
                            capture_output=True, text=True, timeout=600)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    for row, trial in zip(json.loads(loaded.stdout), best):
        assert row["id"] == Path(row["file"]).stem
        assert row["account"] == trial["account"][0] and row["net_pnl_quote"] == trial["hummingbot"][0]["net_pnl_quote"]


def test_enums_are_written_by_value_as_hummingbots_yaml_holds_them(market, hbopt, tmp_path):
    """Hummingbot's loader refuses ``side: BUY``; its configs say ``side: 1``."""
    run = hbopt("backtest", "--controller", "grid", "--pair", PAIR, "--days", "1", "--costs", "hummingbot", "--turbo",
                "--json")
    assert run.code == 0, run.err
    result = json.loads(run.out)
    config = result["config"]
    assert config["side"] == 1
    loaded = BacktestingEngineBase.get_controller_config_instance_from_dict(config, controllers_module="hbopt.controllers")
    assert config_to_dict(loaded) == config
    path = tmp_path / "grid.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    again = json.loads(hbopt("backtest", path, "--start", result["start"], "--end", result["end"], "--costs",
                             "hummingbot", "--json").out)
    assert again["account"] == result["account"] and again["net_pnl_quote"] == result["net_pnl_quote"]


def test_a_config_giving_an_enum_by_name_is_refused_as_hummingbot_refuses_it(market, hbopt, tmp_path):
    path = tmp_path / "grid_strike.yml"
    path.write_text(yaml.safe_dump({"controller_name": "grid_strike", "connector_name": CONNECTOR, "trading_pair": PAIR,
                                    "side": "BUY"}))
    refused = hbopt("backtest", path, "--days", "1", "--controllers-path", STAND_INS)
    assert refused.code == 4
    assert "side: Input should be 1, 2 or 3 (got 'BUY'); Hummingbot's YAML gives an enum by its value" in refused.err


def test_configs_recorded_with_enum_names_are_exported_with_their_values():
    """Studies made before hbopt wrote Hummingbot's values recorded ``side: BUY``."""
    grid_strike = config_class("generic", "grid_strike", use_controllers_path(STAND_INS))
    recorded = {"side": "SELL", "position_mode": "ONEWAY", "triple_barrier_config": {"open_order_type": "LIMIT_MAKER"},
                "trading_pair": "BUY"}
    assert enums_by_value(grid_strike, recorded) == {"side": 2, "position_mode": "ONEWAY", "trading_pair": "BUY",
                                                     "triple_barrier_config": {"open_order_type": 3}}
