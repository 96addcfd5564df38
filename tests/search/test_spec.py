import pytest
import yaml

from hbopt.errors import ConfigError
from hbopt.search.optimize import check_objectives
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


def test_several_objectives_mean_a_pareto_front_with_nsga2():
    s = spec({"objective": ["sharpe_ratio", {"metric": "max_drawdown_usd", "direction": "maximize"}]})
    assert s.sampler == "nsga2" and s.objectives == (Objective("sharpe_ratio"), Objective("max_drawdown_usd"))


def test_constraints_measure_violation_per_pair():
    s = spec({"constraints": {"min_executors": 10, "max_drawdown": 0.2}})
    assert s.violations([{"total_executors": 12, "max_drawdown_pct": -0.1}]) == pytest.approx([-2, -0.1])
    assert max(s.violations([{"total_executors": 3, "max_drawdown_pct": -0.3}])) > 0


@pytest.mark.parametrize("raw, message", [
    ({"controller": "nope"}, "unknown controller 'nope'"),
    ({"space": {"bb_lenght": {"type": "int", "low": 1, "high": 2}}}, "bb_lenght is not a field of controller bollinger"),
    ({"sampler": "anneal"}, "unknown sampler"),
    ({"constraints": {"max_loss": 1}}, "unknown constraint"),
    ({"window": {"start": "2025-01-01"}}, "needs both start and end"),
])
def test_bad_specs_are_config_errors(raw, message):
    with pytest.raises(ConfigError, match=message):
        spec(raw)


def test_objectives_must_be_result_metrics():
    with pytest.raises(ConfigError, match="unknown objective metric 'pnl'"):
        check_objectives(spec({"objective": "pnl"}))


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
