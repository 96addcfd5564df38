"""A ``--turbo`` discover says how many trials ran the stock engine instead, and why: live, in its
summary (text and JSON) and in the study's report."""
import html
import io
import json
import re

import pytest
import yaml
from rich.console import Console

from hbopt import cli
from hbopt.engine import backtest
from hbopt.engine.controllers import use_controllers_path
from hbopt.engine.exchange.costs import Costs
from hbopt.search.optimize import TurboFallbacks
from hbopt.search.storage import StudyFolder
from tests.conftest import CONNECTOR, PAIR, dca_controller


def trial_attrs(*reasons, engine="turbo", **extra) -> dict:
    """A completed trial's user attributes with one pair per reason (None: turbo ran that pair)."""
    return {"engine": engine, "metrics": [{"turbo_fallback": r} for r in reasons], **extra}


def test_each_trial_that_asked_for_turbo_counts_once_and_each_of_its_reasons_once():
    tally = TurboFallbacks.of([
        trial_attrs("no DCA", "no DCA", "no grid"),      # three pairs fell back, for two reasons
        trial_attrs("no DCA", engine="stock"),
        trial_attrs(None),                                # turbo ran
        trial_attrs("no DCA", duplicate=True),            # ran nothing: a copy of an earlier trial
        {"error": "boom"},                                # failed before any result
        trial_attrs(None, engine="stock"),                # the stock engine was asked for
    ])
    assert tally.as_dict() == {"trials": 2, "turbo_trials": 3, "share": 0.6667,
                               "reasons": {"no DCA": 2, "no grid": 1}}


def test_no_turbo_trial_gives_zero_counts():
    assert TurboFallbacks.of([trial_attrs(None, engine="stock")]).as_dict() == {
        "trials": 0, "turbo_trials": 0, "share": 0.0, "reasons": {}}


@pytest.fixture
def terminal(monkeypatch):
    """hbopt's stderr as a recorded terminal, so discover shows its live view; returns the console."""
    console = Console(file=io.StringIO(), force_terminal=True, width=250, record=True)
    monkeypatch.setattr(cli, "err", console)
    return console


@pytest.fixture
def dca_study(tmp_path, market):
    """A turbo study file of a DCA controller (which turbo hands to the stock engine), its
    controllers folder, and the reason turbo gives for that."""
    controllers = dca_controller(tmp_path / "fallback_controllers", "dca_probe")
    study = tmp_path / "study.yml"
    study.write_text(yaml.safe_dump({
        "controller": "dca_probe", "connector": CONNECTOR, "pairs": [PAIR], "window": {"days": 1},
        "space": {"take_profit": {"type": "float", "low": 0.002, "high": 0.02}}, "sampler": "random",
        "engine": "turbo", "costs": "hummingbot"}))  # DCA executors have no exchange model
    reason = backtest({"controller_name": "dca_probe"}, days=1, engine="turbo", costs=Costs("hummingbot"),
                      user_module=use_controllers_path(controllers))["turbo_fallback"]
    assert reason
    return study, controllers, reason


def discover(hbopt, name: str, trials: int, *args):
    run = hbopt("discover", *args, "--iter", trials, "--workers", 1, "--holdout", 0, "--no-validate", "--study", name)
    assert run.code == 0, run.err
    return run


def test_the_summary_and_report_count_every_trial_of_the_study_that_fell_back(dca_study, hbopt):
    study_file, controllers, reason = dca_study
    first = json.loads(discover(hbopt, "dca", 4, study_file, "--controllers-path", controllers, "--json").out)
    assert first[0]["turbo_fallbacks"] == {"trials": 4, "turbo_trials": 4, "share": 1.0, "reasons": {reason: 4}}
    report = (StudyFolder("dca").path / "report.html").read_text()
    assert "Turbo fallbacks" in report and "4 of 4 trials (100.0%)" in report and html.escape(reason) in report

    resumed = json.loads(discover(hbopt, "dca", 2, study_file, "--controllers-path", controllers, "--json").out)
    assert resumed[0]["turbo_fallbacks"] == {"trials": 6, "turbo_trials": 6, "share": 1.0, "reasons": {reason: 6}}
    assert "6 of 6 trials" in (StudyFolder("dca").path / "report.html").read_text()


def test_the_live_view_and_the_text_summary_name_the_fallbacks(dca_study, hbopt, terminal):
    study_file, controllers, reason = dca_study
    discover(hbopt, "dca_live", 3, study_file, "--controllers-path", controllers)
    shown = terminal.export_text()
    assert re.search(rf"^turbo fallbacks: (\d) of \1 trials \(100.0%\) — {re.escape(reason[:40])}", shown, re.M)
    assert f"note: 3 of 3 trials (100.0%) ran the stock engine instead of turbo: {reason} (3)" in " ".join(shown.split())


def test_a_turbo_run_that_never_fell_back_reports_zero_and_shows_no_fallback(market, hbopt, terminal):
    args = ["--controller", "bollinger", "--connector", CONNECTOR, "--pairs", PAIR, "--days", 1, "--turbo",
            "--sampler", "random"]
    summary = json.loads(discover(hbopt, "bollinger", 3, *args, "--json").out)[0]
    assert summary["turbo_fallbacks"] == {"trials": 0, "turbo_trials": 3, "share": 0.0, "reasons": {}}
    assert "Turbo fallbacks" not in (StudyFolder("bollinger").path / "report.html").read_text()

    discover(hbopt, "bollinger", 2, *args)
    assert "turbo fallbacks" not in terminal.export_text() and "stock engine" not in terminal.export_text()
