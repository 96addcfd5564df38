"""``hbopt discover`` end to end: real workers, real optuna studies on disk, no network."""
import collections
import html
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings

import optuna
import pytest
import yaml

from hbopt.cache import synth
from hbopt.cache.mirror import Mirror
from hbopt.cache.store import CandleKey
from hbopt.engine import offline
from hbopt.search.storage import StudyFolder
from tests.conftest import CONNECTOR, PAIR, report_charts

SMALL = ["--controller", "bollinger", "--connector", CONNECTOR, "--days", "1", "--turbo", "--holdout", "0", "--no-validate"]


@pytest.fixture
def two_pairs(store):
    for pair, seed in ((PAIR, 1), ("ETH-USDT", 2)):
        store.add(CandleKey(CONNECTOR, pair, "1m"), synth.generate(3, "1m", seed=seed), {"synthetic": True})
    Mirror.default().refresh()


def trials_of(name: str):
    return StudyFolder(name).load().get_trials(deepcopy=False)


def test_a_small_study_completes_offline_and_resumes(two_pairs, hbopt):
    offline.install()  # the parent never needs the network either
    try:
        first = hbopt("discover", *SMALL, "--pairs", PAIR, "--iter", "6", "--workers", "2", "--study", "s1",
                      "--seed", "4", "--json")
        again = hbopt("discover", *SMALL, "--pairs", PAIR, "--iter", "4", "--workers", "2", "--study", "s1",
                      "--seed", "4", "--json")
    finally:
        offline.uninstall()
    assert first.code == 0, first.err
    assert again.code == 0, again.err
    [summary] = json.loads(again.out)
    assert summary["trials"] == 10 and summary["run"]["trials"] == 4
    trials = trials_of("s1")
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    metrics = trials[0].user_attrs["metrics"][0]
    assert {"net_pnl_quote", "sharpe_ratio", "max_drawdown_pct", "close_types", "account"} <= set(metrics)
    assert trials[0].values[0] == metrics["account"]["pnl_quote"]  # the default objective
    assert trials[0].user_attrs["configs"][0]["trading_pair"] == PAIR
    # what its backtests cost their worker, for anyone checking the driver's share from the outside
    assert all(0 < t.user_attrs["cpu_s"] <= t.user_attrs["seconds"] + 1 for t in trials)
    manifest = StudyFolder("s1").manifest()
    assert manifest["seed"] == 4 and len(manifest["runs"]) == 2 and manifest["versions"]["hummingbot"]
    assert manifest["data"][f"{CONNECTOR}|{PAIR}|1m"] and len(manifest["controller_source_sha256"]) == 64
    assert {"history", "importance"} <= report_charts(StudyFolder("s1").report_path)
    assert StudyFolder("s1").load().metric_names == ["account.pnl_quote"]  # what optuna-dashboard shows


def test_random_search_gives_the_same_trials_whatever_the_workers(two_pairs, hbopt):
    for workers, name in ((1, "r1"), (2, "r2")):
        run = hbopt("discover", *SMALL, "--pairs", PAIR, "--sampler", "random", "--seed", "11", "--iter", "6",
                    "--workers", workers, "--study", name, "--json", "--no-report")
        assert run.code == 0, run.err

    def by_draw(name):
        return {t.user_attrs["draw_index"]: (t.params, t.values) for t in trials_of(name)}
    assert by_draw("r1") == by_draw("r2") and len(by_draw("r1")) == 6


def test_a_study_runs_under_the_costs_it_was_created_with(two_pairs, hbopt):
    costs = ["--costs", "exchange", "--maker-fee", "0.0001", "--slippage", "3"]
    run = hbopt("discover", *SMALL, "--pairs", PAIR, "--iter", "3", "--workers", "1", "--study", "c",
                "--sampler", "random", "--json", "--no-report", *costs)
    assert run.code == 0, run.err
    spec = StudyFolder("c").manifest()["spec"]
    assert spec["costs"] == {"model": "exchange", "maker_fee": 0.0001, "taker_fee": None, "slippage_bps": 3.0}
    again = hbopt("discover", *SMALL, "--pairs", PAIR, "--iter", "1", "--workers", "1", "--study", "c",
                  "--sampler", "random", "--json", "--no-report", "--costs", "hummingbot")
    assert again.code != 0 and "exists with a different costs" in again.err


def test_each_pair_is_its_own_study_unless_scored_across_pairs_and_the_run_refreshes_the_mirror_once(
        two_pairs, hbopt, monkeypatch):
    refreshes = []
    refresh = Mirror.refresh
    monkeypatch.setattr(Mirror, "refresh", lambda self: refreshes.append(1) or refresh(self))
    run = hbopt("discover", *SMALL, "--pairs", "ALL", "--iter", "3", "--workers", "2", "--study", "p",
                "--sampler", "random", "--json", "--no-report")
    assert [s["study"] for s in json.loads(run.out)] == ["p_BTC-USDT", "p_ETH-USDT"]
    assert len(refreshes) == 1  # one run, one refresh: not one per pair, nor one more for the pool
    run = hbopt("discover", *SMALL, "--pairs", "ALL", "--across-pairs", "min", "--iter", "3", "--workers", "2",
                "--study", "both", "--sampler", "random", "--json", "--no-report")
    assert run.code == 0, run.err
    trial = trials_of("both")[0]
    assert len(trial.user_attrs["metrics"]) == 2
    assert trial.values[0] == min(m["account"]["pnl_quote"] for m in trial.user_attrs["metrics"])


CHAOS = '''
import os
import time
from typing import Literal

from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase,
    DirectionalTradingControllerConfigBase,
)


class ChaosConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "chaos"
    mode: Literal["calm", "raise", "hang", "die", "calm2"] = "calm"


class Chaos(DirectionalTradingControllerBase):
    async def update_processed_data(self):
        if self.config.mode == "raise":
            raise RuntimeError("chaos: boom")
        if self.config.mode == "hang":
            time.sleep(600)
        if self.config.mode == "die":
            os._exit(13)
        self.processed_data = {"signal": 0}
'''


def test_a_trial_that_raises_hangs_or_kills_its_worker_fails_alone(two_pairs, hbopt, tmp_path):
    folder = tmp_path / "chaos_controllers" / "directional_trading"
    folder.mkdir(parents=True)
    (folder / "chaos.py").write_text(CHAOS)
    study = tmp_path / "study.yml"
    study.write_text(yaml.safe_dump({
        "controller": "chaos", "connector": CONNECTOR, "pairs": [PAIR], "window": {"days": 1},
        "space": {"mode": {"type": "categorical", "choices": ["calm", "raise", "hang", "die", "calm2"]}},
        "sampler": "grid", "engine": "turbo"}))
    run = hbopt("discover", study, "--controllers-path", folder.parent, "--iter", "5", "--workers", "2",
                "--trial-timeout", "20", "--study", "chaos", "--json")
    assert run.code == 0, run.err
    outcome = {t.params["mode"]: (t.state.name, t.user_attrs.get("error", "")) for t in trials_of("chaos")}
    assert outcome["calm"][0] == outcome["calm2"][0] == "COMPLETE"
    assert outcome["raise"][0] == "FAIL" and outcome["raise"][1].startswith("ControllerError: ")
    assert "RuntimeError: chaos: boom" in outcome["raise"][1]
    assert outcome["hang"] == ("FAIL", "timed out after 20s")
    assert outcome["die"][0] == "FAIL" and "the worker died (exit code 13" in outcome["die"][1]


def test_a_study_exports_its_best_configs_and_every_trial(two_pairs, hbopt, tmp_path):
    assert hbopt("discover", *SMALL, "--pairs", PAIR, "--iter", "4", "--workers", "1", "--study", "e",
                 "--sampler", "random", "--no-report", "--quiet").code == 0
    paths = json.loads(hbopt("study", "export-config", "e", "--best", "2", "--out", tmp_path / "deploy",
                             "--json").out)["configs"]
    best = json.loads(hbopt("study", "best", "e", "--top", "2", "--json").out)
    assert best[0]["values"][0] >= best[1]["values"][0]
    for path, trial in zip(paths, best, strict=True):  # the exported configs are the best trials' parameters
        config = yaml.safe_load(open(path))
        assert {k: config[k] for k in trial["params"]} == trial["params"]
    shown = hbopt("study", "best", "e", "--top", "2").out  # not a terminal: no table is cut
    assert "…" not in shown and ", ".join(f"{k}={v}" for k, v in best[0]["params"].items()) in shown
    csv_text = hbopt("study", "export", "e", "--format", "csv").out
    assert csv_text.splitlines()[0].startswith("number,state,values,bb_length") and len(csv_text.splitlines()) == 5
    assert len(hbopt("study", "export", "e", "--format", "jsonl").out.splitlines()) == 4


def test_a_killed_run_resumes_without_losing_finished_trials(two_pairs, tmp_path):
    env = {**os.environ}
    command = [sys.executable, "-m", "hbopt", "discover", *SMALL, "--pairs", PAIR, "--iter", "400", "--workers", "2",
               "--study", "k", "--sampler", "random", "--quiet", "--no-report"]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if StudyFolder("k").exists() and sum(1 for t in trials_of("k") if t.state.name == "COMPLETE") >= 5:
            break
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = {t.user_attrs["draw_index"]: t.params for t in trials_of("k") if t.state.name == "COMPLETE"}
    assert len(finished) >= 5
    busy = subprocess.run(command[:-4] + ["--iter", "2", "--study", "k", "--sampler", "random", "--json"],
                          env=env, capture_output=True, text=True)
    assert busy.returncode == 0, busy.stderr
    after = {t.user_attrs["draw_index"]: t.params for t in trials_of("k") if t.state.name == "COMPLETE"}
    assert finished.items() <= after.items() and len(after) == len(finished) + 2


def test_two_runs_of_the_same_study_do_not_collide(two_pairs, hbopt):
    folder = StudyFolder("locked")
    folder.path.mkdir(parents=True)
    with folder.lock():
        run = hbopt("discover", *SMALL, "--pairs", PAIR, "--iter", "2", "--workers", "1", "--study", "locked")
    assert run.code == 6 and re.search(r"study locked is locked by process \d+ \(\S+\) of ", run.err)


def test_several_objectives_give_a_pareto_front_in_any_optuna_storage(two_pairs, hbopt, tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    run = hbopt("discover", *SMALL, "--pairs", PAIR, "--iter", "6", "--workers", "2", "--study", "pareto",
                "--objective", "net_pnl_quote", "--objective", "max_drawdown_usd", "--storage", url, "--json")
    assert run.code == 0, run.err
    study = optuna.load_study(study_name="pareto", storage=url)
    assert len(study.directions) == 2 and len(study.trials) == 6
    assert study.metric_names == ["net_pnl_quote", "max_drawdown_usd"]
    assert all("NSGAIISampler:generation" in t.system_attrs for t in study.trials)  # proposed by NSGA-II
    front = {t.number for t in study.best_trials}
    best = json.loads(hbopt("study", "best", "pareto", "--top", "6", "--json").out)
    assert {b["number"] for b in best[:len(front)]} == front  # the front is listed first
    # deleting it removes its trials from the database, and its folder
    assert hbopt("study", "delete", "pareto").code == 0
    assert "pareto" not in optuna.get_all_study_names(url) and not StudyFolder("pareto").path.exists()


def test_parameters_already_tried_are_not_run_again_nor_ranked_twice(two_pairs, hbopt, tmp_path):
    study = tmp_path / "tiny.yml"
    study.write_text(yaml.safe_dump({"space": {"bb_length": {"type": "categorical", "choices": [40, 60]}},
                                     "sampler": "random", "seed": 3}))
    run = hbopt("discover", study, *SMALL, "--pairs", PAIR, "--iter", "6", "--workers", "1", "--study", "tiny",
                "--json", "--no-report")
    assert run.code == 0, run.err
    trials = trials_of("tiny")
    run_once = [t for t in trials if not t.user_attrs.get("duplicate")]
    assert len(trials) == 6 and sorted(t.params["bb_length"] for t in run_once) == [40, 60]
    for twin in (t for t in trials if t.user_attrs.get("duplicate")):
        original = next(t for t in run_once if t.params == twin.params)
        assert twin.values == original.values
    best = json.loads(hbopt("study", "best", "tiny", "--top", "6", "--json").out)
    assert sorted(b["params"]["bb_length"] for b in best) == [40, 60]


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_constraints_use_optunas_current_api_and_infeasible_trials_are_never_ranked(two_pairs, hbopt, tmp_path,
                                                                                      sampler):
    study = tmp_path / "constrained.yml"
    study.write_text(yaml.safe_dump({"constraints": {"min_executors": 100000, "max_drawdown": 1.0}}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = hbopt("discover", study, *SMALL, "--pairs", PAIR, "--iter", "3", "--workers", "1", "--study", "c",
                    "--sampler", sampler, "--json", "--no-report")
    assert run.code == 0, run.err
    assert not [w for w in caught if "deprecated" in str(w.message)]
    trials = trials_of("c")
    assert len(trials) == 3 and all(t.constraints["min_executors"] > 0 >= t.constraints["max_drawdown"]
                                    for t in trials)
    assert json.loads(run.out)[0]["best"] == []
    nothing = hbopt("study", "best", "c", "--json")  # a script reading the best is told there is none, and why
    assert nothing.code == 4 and nothing.out == ""
    assert nothing.err.strip() == ("error: study c has no completed, feasible trial: none of its 3 trials is complete "
                                   "and feasible (check its constraints)")


def test_backtest_warnings_are_kept_per_trial_counted_in_the_table_and_listed_in_the_report(store, hbopt):
    store.add(CandleKey(CONNECTOR, PAIR, "1m"), synth.generate(3, "1m", seed=1, gap_rate=0.01), {"synthetic": True})
    store.add(CandleKey(CONNECTOR, "ETH-USDT", "1m"), synth.generate(3, "1m", seed=2), {"synthetic": True})
    run = hbopt("discover", *SMALL, "--pairs", "ALL", "--across-pairs", "mean", "--iter", "2", "--workers", "1",
                "--study", "w", "--sampler", "random", "--seed", "1")
    assert run.code == 0, run.err
    trials = trials_of("w")
    gaps = [w for w in trials[0].user_attrs["warnings"] if "missing candle(s)" in w]
    assert len(gaps) == 1 and gaps[0].startswith(f"{PAIR}: ")
    assert not any(w.startswith("ETH-USDT: ") and "missing candle(s)" in w for w in trials[0].user_attrs["warnings"])
    best = json.loads(hbopt("study", "best", "w", "--json").out)
    assert [len(b["warnings"]) for b in best] == [len(t.user_attrs["warnings"]) for t in
                                                  sorted(trials, key=lambda t: -t.values[0])]
    assert "warnings" in run.out  # the final table's column
    report = StudyFolder("w").report_path.read_text()
    everywhere = collections.Counter(w for t in trials for w in t.user_attrs["warnings"])
    assert "<h2>Warnings</h2>" in report and all(f"<li>{n} x {html.escape(w)}</li>" in report
                                                 for w, n in everywhere.items())
    assert all(f"<li>#{t.number}: {html.escape('; '.join(t.user_attrs['warnings']))}</li>" in report for t in trials)


def test_a_study_ranked_by_hummingbots_net_pnl_keeps_its_objective_and_says_so(two_pairs, hbopt):
    """A study made before hbopt kept an account ranks by Hummingbot's net PnL: resumed without
    an objective it keeps that one, and says it is Hummingbot's."""
    old = [*SMALL, "--pairs", PAIR, "--sampler", "random", "--workers", "1", "--study", "old", "--json", "--no-report"]
    assert hbopt("discover", *old, "--iter", "2", "--objective", "net_pnl_quote").code == 0
    again = hbopt("discover", *old, "--iter", "2")
    assert again.code == 0, again.err
    assert "study old ranks by Hummingbot's net_pnl_quote, not the account's figures" in " ".join(again.err.split())
    assert [t.values[0] for t in trials_of("old")] == [t.user_attrs["metrics"][0]["net_pnl_quote"]
                                                        for t in trials_of("old")]
    assert StudyFolder("old").manifest()["spec"]["objective"] == [{"metric": "net_pnl_quote", "direction": "maximize"}]


def test_a_resumed_run_shows_the_studys_best_from_its_first_trial(two_pairs):
    from hbopt.search.spec import build_spec
    from hbopt.validation.studies import discover, open_pool

    spec = build_spec({"controller": "bollinger", "connector": CONNECTOR, "pairs": [PAIR], "window": {"days": 1},
                       "holdout": 0, "seed": 2}, {}, None, lambda connector: [PAIR])
    seen = []
    with open_pool(1) as pool:
        discover(spec, 4, pool, study_name="resumed", report=False, validate=False)
        earlier = max(t.values[0] for t in trials_of("resumed"))
        discover(spec, 2, pool, study_name="resumed", report=False, validate=False,
                 on_progress=lambda name, progress, pool: seen.append((progress.done, progress.best)))
    this_run = [t.values[0] for t in trials_of("resumed")[4:]]
    assert max(this_run) < earlier  # the run's own trials found less: the best shown is still the study's
    assert seen and all(best == earlier for _, best in seen)


def test_a_study_is_deleted_unless_a_run_holds_it(two_pairs, hbopt):
    assert hbopt("discover", *SMALL, "--pairs", PAIR, "--iter", "2", "--workers", "1", "--study", "gone",
                 "--quiet").code == 0
    with StudyFolder("gone").lock():  # a run of it
        busy = hbopt("study", "delete", "gone")
    assert busy.code == 6 and StudyFolder("gone").exists()
    assert hbopt("study", "delete", "gone").code == 0 and not StudyFolder("gone").path.exists()
    again = hbopt("study", "delete", "gone")
    assert again.code == 4 and "no study named 'gone'" in again.err
    assert hbopt("discover", *SMALL, "--pairs", PAIR, "--iter", "2", "--workers", "1", "--study", "gone",
                 "--days", "2", "--quiet").code == 0  # the name is free for another window


def test_a_resumed_study_says_when_the_store_has_newer_data_than_its_window(two_pairs, store, hbopt):
    args = [*SMALL, "--pairs", PAIR, "--iter", "1", "--workers", "1", "--study", "nightly", "--json"]
    first = json.loads(hbopt("discover", *args).out)[0]
    assert first["warnings"] == []
    a_day_later = synth.generate(3, "1m", seed=1, end=synth.DEFAULT_END + 86400)
    store.add(CandleKey(CONNECTOR, PAIR, "1m"), a_day_later, {"synthetic": True})  # what a nightly fetch brings
    run = hbopt("discover", *args)
    [again] = json.loads(run.out)
    assert again["windows"] == first["windows"]  # the window is the study's, as created
    [note] = again["warnings"]
    assert note.startswith("study nightly searches its window as created") and "(1 d past it)" in note
    assert note in run.err
