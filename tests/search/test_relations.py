"""Relations between parameters (``slow > fast``): stated by a study file or a controller, or
inferred from fast/slow names; a drawn point that breaks one is never run."""
import json
import re

import pytest
import yaml

from hbopt.errors import ConfigError
from hbopt.search.space import Relation
from hbopt.search.spec import build_spec
from hbopt.search.storage import StudyFolder
from tests.conftest import CONNECTOR, PAIR


def spec(raw):
    return build_spec({"connector": CONNECTOR, "pairs": [PAIR], **raw}, {}, None, lambda connector: [PAIR])


@pytest.mark.parametrize("text, point, holds", [
    ("slow > fast", {"slow": 30, "fast": 10}, True),
    ("slow > fast", {"slow": 10, "fast": 10}, False),
    ("take_profit >= 2 * stop_loss", {"take_profit": 0.04, "stop_loss": 0.02}, True),
    ("take_profit >= 2 * stop_loss", {"take_profit": 0.03, "stop_loss": 0.02}, False),
    ("5 <= fast < slow - 10", {"fast": 5, "slow": 16}, True),  # chained: both comparisons hold
    ("5 <= fast < slow - 10", {"fast": 5, "slow": 15}, False),
    ("a / b > 1", {"a": 1, "b": 0}, True),  # a division by zero is infinite, not an error
    ("slow != -fast", {"slow": 3, "fast": -3}, False),
    ("slow > fast", {"slow": 3}, True),  # a conditional parameter not drawn: nothing to break
])
def test_a_relation_is_a_comparison_of_arithmetic_over_the_point(text, point, holds):
    assert Relation.parse(text).holds(point) is holds


@pytest.mark.parametrize("text", ["slow", "slow == fast", "slow > fast()", "slow > fast.x", "slow > 'x'",
                                  "__import__('os') > 1", "slow >", "slow > fast ** 2", 3])
def test_anything_but_such_a_comparison_is_refused(text):
    with pytest.raises(ConfigError, match="write a comparison such as 'slow > fast'"):
        Relation.parse(text)


def test_a_space_with_fast_and_slow_names_gets_their_relation_unless_the_study_states_its_own():
    assert [r.text for r in spec({"controller": "ma_cross"}).relations] == ["slow_ma > fast_ma"]
    stated = spec({"controller": "ma_cross", "relations": ["slow_ma >= fast_ma + 10", "take_profit > stop_loss"]})
    assert [r.text for r in stated.relations] == ["slow_ma >= fast_ma + 10", "take_profit > stop_loss"]
    assert spec({"controller": "ma_cross", "relations": []}).relations == ()  # stated: none
    # a fixed field takes part as its value: fast fixed at 40, every slow point must be above it
    fixed = spec({"controller": "ma_cross", "fixed": {"fast_ma": 40}, "space": {"slow_ma": {"type": "int", "low": 10,
                                                                                            "high": 200}}})
    assert [r.text for r in fixed.relations] == ["slow_ma > fast_ma"]
    assert not fixed.allows({"slow_ma": 30}) and fixed.allows({"slow_ma": 50})


@pytest.mark.parametrize("raw, message", [
    ({"relations": ["slow_ma > fats_ma"]}, "relation 'slow_ma > fats_ma': fats_ma is neither a searched parameter"),
    ({"relations": "slow_ma > fast_ma"}, "relations must be a list"),
    ({"relations": ["ma_type > fast_ma"]}, "relation 'ma_type > fast_ma': ma_type is not a number"),
    ({"relations": ["fast_ma > 60"]}, "none of 257 points drawn from the space keeps them"),
])
def test_bad_relations_are_config_errors_naming_them(raw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        spec({"controller": "ma_cross", **raw})


def test_a_study_never_runs_a_point_that_breaks_a_relation(market, hbopt, tmp_path):
    """Two moving averages drawn over overlapping ranges: without its relation a TPE study ran
    points with the fast average above the slow one, which the controller refuses."""
    study = tmp_path / "overlap.yml"
    study.write_text(yaml.safe_dump({"controller": "ma_cross", "space": {
        "fast_ma": {"type": "int", "low": 3, "high": 40}, "slow_ma": {"type": "int", "low": 10, "high": 45}}}))
    run = hbopt("discover", study, "--connector", CONNECTOR, "--pairs", PAIR, "--days", "3", "--iter", "12",
                "--workers", "1", "--holdout", "0", "--no-validate", "--no-report", "--seed", "3", "--study", "mc",
                "--json")
    assert run.code == 0, run.err
    [summary] = json.loads(run.out)
    trials = StudyFolder("mc").load().trials
    assert len(trials) == summary["run"]["trials"] == 12 and summary["run"]["failed"] == 0
    assert all(t.params["slow_ma"] > t.params["fast_ma"] for t in trials)
    assert summary["run"]["rejected"] > 0  # proposed against the relation: told to the sampler as failed, never run
    assert StudyFolder("mc").manifest()["spec"]["relations"] == ["slow_ma > fast_ma"]


def test_a_grid_holds_only_the_points_that_keep_the_relations(market, hbopt, tmp_path):
    study = tmp_path / "grid.yml"
    study.write_text(yaml.safe_dump({
        "controller": "ma_cross", "sampler": "grid", "relations": ["slow_ma > fast_ma"],
        "space": {"fast_ma": {"type": "int", "low": 10, "high": 30, "step": 10},
                  "slow_ma": {"type": "int", "low": 10, "high": 30, "step": 10}}}))
    run = hbopt("discover", study, "--connector", CONNECTOR, "--pairs", PAIR, "--days", "3", "--iter", "20",
                "--workers", "1", "--holdout", "0", "--no-validate", "--no-report", "--study", "g", "--json")
    assert run.code == 0, run.err
    pairs = sorted((t.params["fast_ma"], t.params["slow_ma"]) for t in StudyFolder("g").load().trials)
    assert pairs == [(10, 20), (10, 30), (20, 30)]  # 3 of the 9 grid points; the run stops when they are done
