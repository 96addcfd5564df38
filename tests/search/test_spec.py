import re

import pytest
import yaml

from hbopt.engine.controllers import use_controllers_path
from hbopt.errors import ConfigError, ControllerError
from hbopt.search.spec import Objective, build_spec, read_study_file


def spec(raw=None, **overrides):
    return build_spec(raw or {}, overrides, None, lambda connector: ["BTC-USDT", "ETH-USDT"])


def test_without_a_study_file_the_default_controller_and_its_space_are_used():
    s = spec()
    assert s.controller == "bollinger" and s.controller_type == "directional_trading"
    assert {p.name for p in s.space} >= {"bb_length", "bb_std"} and s.days == 90 and s.sampler == "tpe"


def test_command_line_overrides_the_file_and_all_means_every_stored_pair():
    s = spec({"controller": "ma_cross", "pairs": ["BTC-USDT"], "window": {"days": 30}}, pairs="ALL", days=7)
    assert s.pairs == ("BTC-USDT", "ETH-USDT") and s.days == 7
    config = s.config_for("ETH-USDT", {"fast_ma": 5})
    assert config["controller_type"] == "directional_trading" and config["trading_pair"] == "ETH-USDT"


def test_every_controller_is_searched_on_the_accounts_pnl_unless_the_study_names_another():
    for controller in ("market_maker", "pmm", "grid", "bollinger"):
        assert spec({"controller": controller}).objectives == (Objective("account.pnl_quote"),)
        assert spec({"controller": controller}).default_objective
    chosen = spec({"controller": "market_maker", "objective": "account.sharpe"})
    assert chosen.objectives == (Objective("account.sharpe"),) and not chosen.default_objective
    assert spec({"objective": "sharpe_ratio"}).objectives == (Objective("sharpe_ratio"),)  # Hummingbot's, if asked


def test_several_objectives_mean_a_pareto_front_with_nsga2():
    s = spec({"objective": ["sharpe_ratio", {"metric": "max_drawdown_usd", "direction": "maximize"}]})
    assert s.sampler == "nsga2" and s.objectives == (Objective("sharpe_ratio"), Objective("max_drawdown_usd"))


def test_constraints_measure_violation_per_pair_on_any_figure():
    s = spec({"constraints": {"min_executors": 10, "max_drawdown": 0.2, "account.fills": {"min": 40},
                              "account.sharpe": {"max": 5}}})
    one = {"total_executors": 12, "account": {"max_drawdown_pct": 0.1, "fills": 50, "sharpe": 1.0}}
    assert s.violations([one]) == pytest.approx({"min_executors": -2, "max_drawdown": -0.1, "account.fills": -10,
                                                 "account.sharpe": -4})
    deep = {**one, "account": {**one["account"], "max_drawdown_pct": 0.3}}  # the account's fall, a fraction
    assert s.violations([one, deep])["max_drawdown"] == pytest.approx(0.1)
    assert s.violations([{"total_executors": 12}])["account.fills"] > 0  # a result without the figure


def test_a_space_holding_some_invalid_combinations_is_accepted():
    """fast_ma 10 with slow_ma 10 is invalid (fast must be below slow), but most points are not."""
    s = spec({"controller": "ma_cross", "space": {"fast_ma": {"type": "int", "low": 10, "high": 50},
                                                  "slow_ma": {"type": "int", "low": 10, "high": 200}}})
    assert [p.name for p in s.space] == ["fast_ma", "slow_ma"]


@pytest.mark.parametrize("raw, message", [
    ({"controller": "nope"}, "unknown controller 'nope'"),
    ({"space": {"bb_lenght": {"type": "int", "low": 1, "high": 2}}},
     "unknown field(s) for controller bollinger: bb_lenght"),
    ({"fixed": {"total_amount_quote": "lots"}},
     "no point tried makes a valid config; the first: invalid bollinger config: total_amount_quote"),
    ({"fixed": [1]}, "fixed must be a mapping"),
    ({"sampler": "anneal"}, "sampler must be one of tpe, random, grid, nsga2, not 'anneal'"),
    ({"sampler": "grid", "space": {"x_": {"type": "float", "low": 0.1, "high": 1}}}, "grid search needs a step"),
    ({"constraints": {"max_loss": 1}}, "unknown constraint"),
    ({"constraints": {"min_executors": "lots"}}, "constraint min_executors must be a finite number"),
    ({"window": {"start": "2025-01-01"}}, "needs both start and end"),
    ({"window": {"start": "2025-02-01", "end": "2025-01-01"}},
     "window start 2025-02-01 00:00 UTC is not before its end 2025-01-01 00:00 UTC"),
    ({"window": {"start": "someday", "end": "2025-01-01"}}, "window start: 'someday' is not a date"),
    ({"window": {"dayz": 3}}, "window: unknown key(s) dayz"),
    ({"window": {"days": 0}}, "days must be more than 0"),
    ({"window": {"days": float("nan")}}, "days must be a finite number, not nan"),
    ({"objective": "pnl"}, "unknown objective metric 'pnl'"),
    ({"objective": {"metric": "sharpe_ratio", "direction": "up"}}, "direction must be maximize or minimize"),
    ({"objective": "equity_pnl_quote"}, "objective equity_pnl_quote was retired: use account.pnl_quote"),
    ({"objective": "account.pnl"}, "unknown objective metric 'account.pnl'"),
    ({"constraints": {"account.fills": 3}}, "constraint account.fills must be {min: x} or {max: x}"),
    ({"constraints": {"sharp": {"min": 1}}}, "unknown constraint metric 'sharp'"),
    ({"engine": "warp"}, "engine must be one of stock, turbo, not 'warp'"),
    ({"resolution": "1s"}, "resolution must be 1m or longer"),
    ({"resolution": "2m"}, "resolution: unknown interval '2m'"),
    ({"trade_cost": 1}, "trade_cost must be a fraction >= 0 and < 1"),
    ({"trade_cost": -0.001}, "trade_cost must be a fraction >= 0 and < 1"),
    ({"trade_cost": "free"}, "trade_cost must be a finite number, not 'free'"),
    ({"seed": "abc"}, "seed must be an integer"),
    ({"seed": -1}, "seed must be an integer"),
    ({"across_pairs": "max"}, "across_pairs must be one of mean, min"),
    ({"pairs": 5}, "pairs must be a list of trading pairs or ALL"),
    ({"feature_timing": "noon"}, "feature_timing must be one of close, open, not 'noon'"),
])
def test_bad_specs_are_config_errors_naming_the_setting(raw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        spec(raw)


def test_feature_timing_defaults_to_close_and_reaches_every_backtest():
    assert spec().window_kwargs()["feature_timing"] == "close"
    s = spec({"feature_timing": "open"})
    assert s.window_kwargs()["feature_timing"] == "open" and s.to_dict()["feature_timing"] == "open"


def test_study_files_with_unknown_keys_are_refused(tmp_path):
    path = tmp_path / "study.yml"
    path.write_text(yaml.safe_dump({"controller": "bollinger", "iterations": 5}))
    with pytest.raises(ConfigError, match="unknown key\\(s\\) iterations"):
        read_study_file(path)


def test_a_window_from_a_study_file_takes_dates(tmp_path):
    path = tmp_path / "study.yml"
    path.write_text("window: {start: 2025-10-01, end: 2025-11-01T12:00}\n")
    s = spec(read_study_file(path))
    assert (s.start, s.end, s.days) == (1759276800, 1761998400, None)


TOUCHY = '''
from pydantic import field_validator
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase, DirectionalTradingControllerConfigBase)

SEARCH_SPACE = {"stop_loss": {"type": "float", "low": 0.01, "high": 0.05}}


class TouchyConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "touchy"

    @field_validator("stop_loss", mode="before")
    @classmethod
    def _check(cls, value):
        raise TypeError("touchy cannot read a stop_loss")


class Touchy(DirectionalTradingControllerBase):
    pass
'''


def test_a_controller_config_whose_own_code_raises_while_loading_is_a_controller_error(tmp_path):
    folder = tmp_path / "touchy_controllers" / "directional_trading"
    folder.mkdir(parents=True)
    (folder / "touchy.py").write_text(TOUCHY)
    user_module = use_controllers_path(folder.parent)
    with pytest.raises(ControllerError, match="loading the touchy config raised TypeError: touchy cannot read a stop"):
        build_spec({"controller": "touchy"}, {}, user_module, lambda connector: ["BTC-USDT"])
