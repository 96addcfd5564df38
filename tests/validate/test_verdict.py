"""The verdict: pass only when every required check passes; every figure is reported either way."""
from hbopt.validate.verdict import Thresholds, verdict_of


def validation(holdout_pnl=5.0, dsr=0.99, pbo=0.2, holds=True, stress=1.0, holdout=True):
    return {"best": 7,
            "holdout": [{"number": 7, "error": None, "pairs": {"BTC-USDT": {"account": {"pnl_quote": holdout_pnl}}}}] if holdout else [],
            "statistics": {"dsr": dsr, "pbo": pbo},
            "neighbourhood": {"best": 10.0, "median": 8.0, "holds": holds},
            "stress": {"trade_cost": 0.0012, "holdout": stress}}


def checks(result) -> dict:
    return {r["check"]: r for r in result["reasons"]}


def test_a_pass_needs_every_required_check():
    assert verdict_of(validation(), Thresholds(), None)["verdict"] == "pass"
    for failing in ({"holdout_pnl": -0.01}, {"dsr": 0.94}, {"pbo": 0.5}, {"holds": False}):
        result = verdict_of(validation(**failing), Thresholds(), None)
        assert result["verdict"] == "fail", failing
        assert sum(not r["passed"] for r in result["reasons"] if r["required"]) == 1


def test_the_cost_stress_is_shown_but_not_required():
    result = verdict_of(validation(stress=-3.0), Thresholds(), None)
    stress = checks(result)["PnL (account) at 2x trade cost (holdout)"]
    assert result["verdict"] == "pass" and not stress["passed"] and not stress["required"]


def test_thresholds_decide_and_are_reported():
    lenient = Thresholds(min_dsr=0.5, max_pbo=0.9)
    result = verdict_of(validation(dsr=0.6, pbo=0.7), lenient, None)
    assert result["verdict"] == "pass" and result["thresholds"]["min_dsr"] == 0.5
    assert checks(result)["deflated Sharpe ratio"] == {"check": "deflated Sharpe ratio", "figure": 0.6,
                                                       "threshold": ">= 0.5", "passed": True, "required": True}


def test_without_any_out_of_sample_result_it_fails_and_says_what_to_run():
    result = verdict_of(validation(holdout=False), Thresholds(), None)
    assert result["verdict"] == "fail"
    assert "hbopt walkforward" in checks(result)["out-of-sample result"]["note"]
    walkforward = {"name": "s", "folds": [], "out_of_sample": {"pnl_quote": 4.0}, "efficiency": 0.8,
                   "profitable_folds": 0.75}
    with_walk = verdict_of(validation(holdout=False), Thresholds(), walkforward)
    assert with_walk["verdict"] == "pass" and checks(with_walk)["walk-forward PnL (account)"]["figure"] == 4.0


def test_the_holdout_pnl_is_the_accounts_not_hummingbots_net_pnl():
    """Hummingbot's net PnL of a market maker on order executors leaves the hold's fees and open PnL out."""
    row = {"net_pnl_quote": 12.0, "account": {"pnl_quote": -3.5}}
    result = verdict_of({**validation(), "holdout": [{"number": 7, "error": None, "pairs": {"BTC-USDT": row}}]},
                        Thresholds(), None)
    assert checks(result)["holdout PnL (account)"]["figure"] == -3.5 and result["verdict"] == "fail"
