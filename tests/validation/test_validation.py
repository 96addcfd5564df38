"""What discover, validate and walkforward tell a user about whether a result will hold, on a
market with no edge (a random walk) and on one with a real, persistent edge."""
import json
import math
from pathlib import Path

import pytest
import yaml

from hbopt.cache import synth
from hbopt.cache.mirror import Mirror
from hbopt.search.storage import StudyFolder
from hbopt.search.studies import ranked
from hbopt.search.report import times
from hbopt.validation.report import best_trial_figure
from tests.conftest import CONNECTOR, KEY_1M, PAIR, report_charts

NAME = f"bollinger_{CONNECTOR}_{PAIR}"
SPACE = {"bb_length": {"type": "int", "low": 20, "high": 200, "step": 10},
         "bb_std": {"type": "float", "low": 1.0, "high": 3.0, "step": 0.1},
         "take_profit": {"type": "float", "low": 0.002, "high": 0.02, "step": 0.001},
         "stop_loss": {"type": "float", "low": 0.004, "high": 0.03, "step": 0.002},
         "time_limit": {"type": "int", "low": 1800, "high": 14400, "step": 1800}}


def study_file(tmp_path, days=36, **extra):
    path = tmp_path / "study.yml"
    path.write_text(yaml.safe_dump({"controller": "bollinger", "connector": CONNECTOR, "pairs": [PAIR],
                                    "engine": "turbo", "window": {"days": days}, "seed": 3, "space": SPACE, **extra}))
    return path


def market(store, regime: str, seed: int = 5, days: int = 40):
    store.add(KEY_1M, synth.generate(days, "1m", seed=seed, regime=regime), {"source": "synth", "synthetic": True})
    Mirror.default().refresh()


def discover(hbopt, study, *args):
    run = hbopt("discover", study, "--iter", "40", "--workers", "2", "--top", "5", "--json", *args)
    assert run.code == 0, run.err
    [summary] = json.loads(run.out)
    return summary


def test_on_a_random_walk_the_best_in_sample_fails_validation(store, hbopt, tmp_path):
    market(store, "walk")
    # under Hummingbot's costs without fees, no drag to fail on
    summary = discover(hbopt, study_file(tmp_path, trade_cost=0, costs="hummingbot"))
    validation = summary["validation"]
    assert summary["best"][0]["values"][0] > 0  # the best of 40 trials of chance looks good in sample
    assert validation["verdict"] == "fail"
    checks = {r["check"]: r for r in validation["reasons"]}
    assert not checks["deflated Sharpe ratio"]["passed"] and checks["deflated Sharpe ratio"]["figure"] < 0.95
    assert set(checks) >= {"top 5 trials profitable on the holdout", "top 5 trials' median PnL per day (account, holdout)",
                           "top 5 trials' mean holdout PnL per period > 0 (t-test p)", "PBO", "neighbourhood median"}
    # the holdout is judged on the top trials' accounts, each beside what it made in sample
    evidence = validation["holdout_evidence"]
    for row, top in zip(validation["holdout"], summary["best"]):
        assert row["holdout_pnl"] == pytest.approx(sum(p["account"]["pnl_quote"] for p in row["pairs"].values()))
        assert row["in_sample_pnl"] == pytest.approx(top["account"][0]["pnl_quote"])
    assert evidence["trials"] == 5 and evidence["profitable"] == sum(r["holdout_pnl"] > 0 for r in validation["holdout"])
    assert checks["top 5 trials profitable on the holdout"]["figure"] == evidence["profitable"] / 5

    # the search never saw the holdout: every trial ran on the in-sample window, which ends (with a
    # gap as long as the longest time_limit) before the holdout starts
    windows = summary["windows"][PAIR]
    assert windows["gap"] == 14400 and windows["in_sample"][1] + 60 + 14400 == windows["holdout"][0]
    for trial in StudyFolder(NAME).load().get_trials(deepcopy=False):
        assert trial.user_attrs["window"][0]["end"] == windows["in_sample"][1]
    assert [r["number"] for r in validation["holdout"]] == [b["number"] for b in summary["best"][:5]]
    assert all(r["holdout"] is not None for r in validation["holdout"])

    # the top trials' fills are in the study folder, in sample and on the holdout; the in-sample
    # ledger replays to what the trial's account made when the search scored it
    ledgers = StudyFolder(NAME).path / "ledgers"
    best = summary["best"][0]
    assert sorted(p.name for p in ledgers.iterdir()) == sorted(
        f"trial-{b['number']}_{PAIR}_{w}.json" for b in summary["best"][:3] for w in ("holdout", "in-sample"))
    ledger = json.loads((ledgers / f"trial-{best['number']}_{PAIR}_in-sample.json").read_text())
    assert set(ledger) == {"fills", "executors", "equity"} and ledger["fills"]
    replay = math.fsum((-1 if f["side"] == "BUY" else 1) * f["price"] * f["amount"] - f["fee_quote"]
                       for f in ledger["fills"])
    assert replay == pytest.approx(best["account"][0]["pnl_quote"], rel=1e-9)

    # the best's chart: every fill on the price, each window's equity from the capital to what its
    # account made, its drawdown as deep as the account's, the holdout's start marked
    holdout = json.loads((ledgers / f"trial-{best['number']}_{PAIR}_holdout.json").read_text())
    chart = best_trial_figure(ledger, holdout, windows["holdout"][0])
    traces = {t.name: t for t in chart.data}
    capital = best["account"][0]["capital_quote"]
    for window, fills, pnl in (("in-sample", ledger["fills"], best["account"][0]["pnl_quote"]),
                               ("holdout", holdout["fills"], validation["holdout"][0]["pairs"][PAIR]["account"]["pnl_quote"])):
        equity = traces[f"equity ({window})"].y
        assert equity[0] == pytest.approx(capital, rel=1e-3) and equity[-1] == pytest.approx(capital + pnl, abs=1e-9)
        assert len(traces[f"buy fills ({window})"].x) + len(traces[f"sell fills ({window})"].x) == len(fills)
    assert -min(traces["drawdown (in-sample)"].y) == pytest.approx(100 * best["account"][0]["max_drawdown_pct"])
    assert {line.x0 for line in chart.layout.shapes} == {times([windows["holdout"][0]])[0]}  # across all 3 panels

    # the same figures later, with the holdout beside the in-sample score, and a report with the plots
    best = hbopt("study", "best", NAME, "--top", "3", "--json")
    rows = json.loads(best.out)
    assert rows[0]["holdout"] == validation["holdout"][0]["holdout"]
    report = StudyFolder(NAME).report_path
    assert "Verdict: <span class=\"fail\">fail</span>" in report.read_text()
    assert report_charts(report) >= {"history", "importance", "holdout", f"best-{PAIR}", "pbo", "neighbourhood"}

    # thresholds are data too: the verdict follows them, and validate exits 0 either way
    lenient = hbopt("validate", NAME, "--min-dsr", "0", "--max-pbo", "1", "--neighbourhood", "0",
                    "--min-oos-pnl", "-1e9", "--min-profitable", "0", "--min-rate-ratio", "-1e9",
                    "--max-p-value", "1", "--workers", "2", "--json")
    assert lenient.code == 0, lenient.err
    assert json.loads(lenient.out)["verdict"] == "pass"
    strict = hbopt("validate", NAME, "--workers", "2", "--json")
    assert strict.code == 0 and json.loads(strict.out)["verdict"] == "fail"

    # searched under Hummingbot's costs, the best's holdout is also run under the exchange's; and
    # the study can be validated under the exchange's costs, its stress then multiplying them
    assert isinstance(validation["exchange_holdout"]["pnl_quote"], float)
    exchange = json.loads(hbopt("validate", NAME, "--costs", "exchange", "--workers", "2", "--json").out)
    assert (exchange["costs"]["model"], exchange["searched_costs"]["model"]) == ("exchange", "hummingbot")
    assert "PnL (account) at 2x fees and slippage (holdout)" in {r["check"] for r in exchange["reasons"]}


def test_on_a_market_with_a_persistent_edge_the_best_passes(store, hbopt, tmp_path):
    market(store, "revert")  # a random walk plus a mean-reverting component Bollinger bands can trade
    summary = discover(hbopt, study_file(tmp_path))
    validation = summary["validation"]
    assert validation["verdict"] == "pass", validation["reasons"]
    checks = {r["check"]: r for r in validation["reasons"]}
    evidence = validation["holdout_evidence"]
    assert evidence["profitable"] >= 3 and evidence["median_rate"] > 0.25 * evidence["median_rate_in_sample"] > 0
    assert evidence["p_value"] <= 0.05 and checks["deflated Sharpe ratio"]["figure"] >= 0.95
    assert checks["PBO"]["figure"] < 0.5 and validation["neighbourhood"]["holds"]
    stats = validation["statistics"]
    # every distinct trial of the 40 counts (two workers' TPE may propose one twice: it is run once)
    distinct = len(ranked(StudyFolder(NAME).load()))
    assert 1 <= stats["effective_trials"] <= stats["trials"] == distinct and distinct >= 36
    assert stats["periods"] >= 2 * 16


def test_without_validation_the_top_trials_still_face_the_holdout(store, hbopt, tmp_path):
    market(store, "walk")
    summary = discover(hbopt, study_file(tmp_path), "--iter", "6", "--top", "3", "--no-validate")
    validation = summary["validation"]
    assert "verdict" not in validation and "statistics" not in validation
    assert [r["number"] for r in validation["holdout"]] == [b["number"] for b in summary["best"][:3]]
    assert all(r["holdout"] is not None for r in validation["holdout"])


def test_walk_forward_reoptimises_each_fold_and_validate_reads_it(store, hbopt, tmp_path):
    market(store, "walk")
    study = study_file(tmp_path, holdout=0)
    run = hbopt("walkforward", study, "--folds", "3", "--iter", "8", "--workers", "2", "--json")
    assert run.code == 0, run.err
    [result] = json.loads(run.out)
    folds = result["folds"]
    assert [f["study"] for f in folds] == [f"{NAME}-wf{i}" for i in (1, 2, 3)]
    for before, fold in zip([None] + folds, folds):
        assert fold["train"][1] + 60 + result["gap"] == fold["test"][0]  # trained up to the gap before its test
        if before:
            assert fold["train"][0] > before["train"][0] and fold["test"][0] > before["test"][1]
        assert len(StudyFolder(fold["study"]).load().trials) == 8  # a fresh optimisation per fold
    oos = result["out_of_sample"]
    assert oos["pnl_quote"] == pytest.approx(sum(f["test_pnl"] for f in folds), abs=1e-9)
    for fold in folds:  # train and test are both the account's PnL
        winner = StudyFolder(fold["study"]).load().trials[fold["winner"]]
        assert fold["train_pnl"] == sum(m["account"]["pnl_quote"] for m in winner.user_attrs["metrics"])
    rate = {side: sum(f[f"{side}_pnl"] for f in folds) / sum(f[side][1] - f[side][0] for f in folds)
            for side in ("train", "test")}
    if rate["train"] > 0:
        assert result["efficiency"] == pytest.approx(rate["test"] / rate["train"])
    else:
        assert result["efficiency"] is None
    assert len(oos["fold_starts"]) == 3 and 0 <= result["profitable_folds"] <= 1
    assert set(result["stability"]) == set(SPACE)

    discover(hbopt, study, "--iter", "10")
    checks = {r["check"]: r for r in json.loads(hbopt("validate", NAME, "--workers", "2", "--json").out)["reasons"]}
    assert checks["walk-forward PnL (account)"]["figure"] == pytest.approx(oos["pnl_quote"])
    assert "walkforward" in report_charts(StudyFolder(NAME).report_path)
    assert "walkforward" in report_charts(Path(result["report"]))
