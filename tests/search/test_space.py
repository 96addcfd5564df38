import optuna
import pytest

from hbopt.errors import ConfigError
from hbopt.search.space import config_fields, draw, grid_points, on_steps, parse_space, shown, suggest

SPACE = {
    "length": {"type": "int", "low": 10, "high": 50, "step": 10},
    "width": {"type": "float", "low": 1.0, "high": 2.0, "step": 0.1},
    "stop": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
    "_trail": {"type": "categorical", "choices": [True, False]},
    "trailing_stop": {"type": "categorical", "choices": ["0.01,0.002", "0.02,0.005"], "when": {"_trail": True}},
}


def test_random_points_depend_only_on_seed_and_index_and_stay_in_bounds():
    space = parse_space(SPACE)
    points = [draw(space, 7, i) for i in range(200)]
    assert points == [draw(space, 7, i) for i in range(200)]
    assert points != [draw(space, 8, i) for i in range(200)]
    for p in points:
        assert p["length"] in (10, 20, 30, 40, 50) and 1.0 <= p["width"] <= 2.0 and 0.001 <= p["stop"] <= 0.1
        assert ("trailing_stop" in p) == p["_trail"]
    assert {p["length"] for p in points} == {10, 20, 30, 40, 50}


def test_conditional_parameters_are_drawn_only_when_their_condition_holds():
    space = parse_space(SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(30):
        trial = study.ask()
        point = suggest(space, trial)
        assert ("trailing_stop" in point) == point["_trail"]
        study.tell(trial, 0.0)


def test_grid_expands_conditional_branches_and_config_fields_drop_steering_parameters():
    space = parse_space({k: v for k, v in SPACE.items() if k != "stop"} | {"width": {"type": "float", "low": 1.0,
                                                                                       "high": 1.2, "step": 0.1}})
    points = grid_points(space)
    assert len(points) == 5 * 3 * (2 + 1)
    assert config_fields(space, {"_trail": True, "width": 1.1000000000000001}) == {"width": 1.1}


@pytest.mark.parametrize("raw, message", [
    ({}, "empty"),
    ({"x": {"type": "int", "low": 5, "high": 1}}, "low < high"),
    ({"x": {"type": "float", "low": 0, "high": 1, "log": True}}, "log only with low > 0"),
    ({"x": {"type": "categorical", "choices": []}}, "non-empty list of choices"),
    ({"x": {"type": "int", "low": 1, "high": 5, "when": {"y": 1}}}, "condition on y, which is not an earlier"),
    ({"x": {"type": "real", "low": 1, "high": 5}}, "needs a type"),
    ({"x": {"type": "int", "low": 1, "high": 5, "stepp": 1}}, "unknown key(s) stepp"),
    ({"x": {"type": "float", "low": 0, "high": float("inf")}}, "x: low, high and step must be finite numbers"),
    ({"x": {"type": "float", "low": 0, "high": 1, "step": float("nan")}}, "x: low, high and step must be finite"),
    ({"x": {"type": "int", "low": 1, "high": 5, "when": ["y"]}}, "x: when must be a mapping"),
])
def test_bad_spaces_are_config_errors_naming_the_parameter(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_space(raw)


def test_a_grid_needs_steps_for_floats():
    with pytest.raises(ConfigError, match="grid search needs a step for float parameter x"):
        grid_points(parse_space({"x": {"type": "float", "low": 0.1, "high": 1.0}}))


def test_parameters_are_shown_and_given_on_their_steps():
    space = parse_space({"spread": {"type": "float", "low": 0.005, "high": 0.1, "step": 0.005},
                         "quarter": {"type": "float", "low": 0.25, "high": 2.0, "step": 0.25},
                         "length": {"type": "int", "low": 10, "high": 300, "step": 10},
                         "stop": {"type": "float", "low": 0.002, "high": 0.05, "log": True},
                         "ma": {"type": "categorical", "choices": ["ema", "sma"]}})
    drawn = {"spread": 0.005 + 9 * 0.005, "quarter": 0.25 * 3, "length": 120, "stop": 0.0123456789, "ma": "ema",
             "retired": 0.30000000000000004}
    assert drawn["spread"] == 0.049999999999999996
    assert shown(space, drawn) == "spread=0.050, quarter=0.75, length=120, stop=0.0123457, ma=ema, retired=0.3"
    # tables, --json and exports give the numbers on their step grid (a grid off the step's own
    # decimals included), an unstepped float as drawn
    space.append(parse_space({"offset": {"type": "float", "low": 0.0015, "high": 0.02, "step": 0.001}})[0])
    assert on_steps(space, drawn | {"offset": 0.0015 + 0.001, "length": 120.0}) == {
        "spread": 0.05, "quarter": 0.75, "length": 120, "stop": 0.0123456789, "ma": "ema", "retired": 0.3,
        "offset": 0.0025}
