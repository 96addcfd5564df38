"""The verdict: pass only when every required check passes; every figure is reported either way,
beside the in-sample figure it is compared with. The holdout is judged on the top trials
together, so one trial's short holdout never decides it."""
from types import SimpleNamespace

import pytest

from hbopt.validation.checks import holdout_evidence, one_sided_p
from hbopt.validation.verdict import Thresholds, verdict_of

TOP = "top 10 trials"


def evidence(**changes) -> dict:
    """Ten top trials on a 9-day holdout after 27 days in sample: 8 profit, at a third of their
    in-sample rate, with a significant mean."""
    return {"trials": 10, "days": 9.0, "days_in_sample": 27.0, "profitable": 8, "profitable_in_sample": 10,
            "median_rate": 1.0, "median_rate_in_sample": 3.0, "median_pnl": 9.0, "best_rate": 1.5,
            "best_rate_in_sample": 4.0, "p_value": 0.01, "p_value_in_sample": 0.0001} | changes


def validation(dsr=0.99, pbo=0.2, holds=True, stress=1.0, holdout=True, **evidence_changes):
    return {"best": 7,
            "holdout": [{"number": 7, "error": None, "pairs": {"BTC-USDT": {"account": {"pnl_quote": 13.5}}}}] if holdout else [],
            **({"holdout_evidence": evidence(**evidence_changes)} if holdout else {}),
            "statistics": {"dsr": dsr, "pbo": pbo},
            "neighbourhood": {"best": 10.0, "median": 8.0, "holds": holds},
            "stress": {"trade_cost": 0.0012, "holdout": stress, "in_sample": 30.0}}


def checks(result) -> dict:
    return {r["check"]: r for r in result["reasons"]}


def test_a_pass_needs_every_required_check():
    assert verdict_of(validation(), Thresholds(), None)["verdict"] == "pass"
    for failing in ({"profitable": 5},                            # half the top trials lose on the holdout
                    {"median_rate": 0.7},                          # under a quarter of their in-sample rate
                    {"median_pnl": -0.5, "median_rate": -0.05},    # the median trial loses
                    {"p_value": 0.2}, {"p_value": None},           # the holdout's mean could be chance
                    {"dsr": 0.94}, {"pbo": 0.5}, {"holds": False}):
        result = verdict_of(validation(**failing), Thresholds(), None)
        assert result["verdict"] == "fail", failing
        assert sum(not r["passed"] for r in result["reasons"] if r["required"]) == 1, failing


def test_each_check_shows_the_in_sample_figure_it_is_compared_with():
    result = checks(verdict_of(validation(), Thresholds(), None))
    assert result[f"{TOP} profitable on the holdout"] | {"note": None} == {
        "check": f"{TOP} profitable on the holdout", "figure": 0.8, "in_sample": 1.0, "threshold": ">= 0.6",
        "passed": True, "required": True, "note": None}
    rate = result[f"{TOP}' median PnL per day (account, holdout)"]
    assert (rate["figure"], rate["in_sample"], rate["threshold"]) == (1.0, 3.0, ">= 0.25x in-sample, and PnL > 0")
    assert result[f"{TOP}' mean holdout PnL per period > 0 (t-test p)"]["in_sample"] == 0.0001
    assert result["neighbourhood median"]["in_sample"] == 10.0
    assert result["PnL (account) at 2x trade cost (holdout)"]["in_sample"] == 30.0


def test_the_best_trials_own_holdout_is_shown_but_does_not_decide():
    """A study whose best changes as trials are added keeps its verdict while the top trials'
    evidence stands, whatever the new best's short holdout happened to make."""
    result = verdict_of(validation(best_rate=-0.01), Thresholds(), None)
    best = checks(result)["the best's PnL per day (account, holdout)"]
    assert result["verdict"] == "pass" and not best["passed"] and not best["required"]
    assert (best["figure"], best["in_sample"]) == (-0.01, 4.0)


def test_the_cost_stress_is_shown_but_not_required():
    result = verdict_of(validation(stress=-3.0), Thresholds(), None)
    stress = checks(result)["PnL (account) at 2x trade cost (holdout)"]
    assert result["verdict"] == "pass" and not stress["passed"] and not stress["required"]


def test_thresholds_decide_and_are_reported():
    lenient = Thresholds(min_dsr=0.5, max_pbo=0.9, min_profitable=0.4, min_rate_ratio=0.1, max_p_value=0.3)
    result = verdict_of(validation(dsr=0.6, pbo=0.7, profitable=5, median_rate=0.4, p_value=0.2), lenient, None)
    assert result["verdict"] == "pass" and result["thresholds"]["min_dsr"] == 0.5
    assert result["thresholds"]["max_p_value"] == 0.3
    assert checks(result)["deflated Sharpe ratio"] == {"check": "deflated Sharpe ratio", "figure": 0.6, "in_sample": None,
                                                       "threshold": ">= 0.5", "passed": True, "required": True}


def test_without_any_out_of_sample_result_it_fails_and_says_what_to_run():
    result = verdict_of(validation(holdout=False), Thresholds(), None)
    assert result["verdict"] == "fail"
    assert "hbopt walkforward" in checks(result)["out-of-sample result"]["note"]
    walkforward = {"name": "s", "folds": [], "out_of_sample": {"pnl_quote": 4.0}, "efficiency": 0.8,
                   "profitable_folds": 0.75}
    with_walk = verdict_of(validation(holdout=False), Thresholds(), walkforward)
    assert with_walk["verdict"] == "pass" and checks(with_walk)["walk-forward PnL (account)"]["figure"] == 4.0


def trial(number: int, hourly: list[float]):
    return SimpleNamespace(number=number, user_attrs={"pnl": {"period": 3600, "values": [hourly]}})


def row(number: int, in_sample: float, hourly: list[float]):
    return {"number": number, "in_sample_pnl": in_sample, "holdout_pnl": sum(hourly),
            "pnl": [{"period": 3600, "values": hourly}]}


def test_the_holdout_evidence_is_the_top_trials_account_pnl_against_their_in_sample_run():
    """The account's PnL, never Hummingbot's net PnL; rates per day of each window."""
    day = 86400
    windows = {"in_sample": [0, 3 * day - 60], "holdout": [4 * day, 5 * day - 60]}  # 3 days, then 1 day
    hourly = [[0.5, -0.25, 0.5, 0.25], [1.0, 0.5, -0.5, 1.0], [-1.0, -0.5, 0.25, -0.25]]
    rows = [row(n, in_sample, h) for n, in_sample, h in zip((4, 9, 2), (30.0, 27.0, -3.0), hourly)]
    trials = [trial(n, [1.0, 1.0, 1.0]) for n in (4, 9, 2)]
    result = holdout_evidence(rows, trials, windows, 60)
    assert result | {"p_value": None, "p_value_in_sample": None} == {
        "trials": 3, "days": 1.0, "days_in_sample": 3.0, "profitable": 2, "profitable_in_sample": 2,
        "median_rate": 1.0, "median_rate_in_sample": 9.0, "median_pnl": 1.0, "best_rate": 1.0,
        "best_rate_in_sample": 10.0, "p_value": None, "p_value_in_sample": None}
    mean = [sum(col) / 3 for col in zip(*hourly)]
    assert result["p_value"] == pytest.approx(one_sided_p(mean)) and 0 < result["p_value"] < 1
    assert result["p_value_in_sample"] == 0.0  # every trial made the same in every period


def test_a_trial_whose_holdout_failed_leaves_the_evidence():
    day = 86400
    windows = {"in_sample": [0, day - 60], "holdout": [day, 2 * day - 60]}
    rows = [{"number": 1, "in_sample_pnl": 5.0, "holdout_pnl": None}, row(2, 4.0, [1.0, 1.0, 2.0])]
    result = holdout_evidence(rows, [trial(1, [5.0]), trial(2, [4.0])], windows, 60)
    assert result["trials"] == 1 and result["best_rate"] is None and result["median_pnl"] == 4.0


def test_the_t_test_is_one_sided_and_needs_three_periods():
    assert one_sided_p([1.0, 2.0]) is None
    assert one_sided_p([1.0, 2.0, 1.5, 3.0]) < 0.05 < 0.95 < one_sided_p([-1.0, -2.0, -1.5, -3.0])
    assert one_sided_p([0.0, 0.0, 0.0]) == 1.0
