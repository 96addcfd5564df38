"""Resuming a study that a killed run left behind: a torn journal line, trials left running."""
import json

from hbopt.search.storage import StudyFolder
from tests.conftest import CONNECTOR, PAIR

RUN = ["discover", "--controller", "bollinger", "--connector", CONNECTOR, "--pairs", PAIR, "--days", "1", "--turbo",
       "--iter", "3", "--workers", "1", "--no-report", "--json", "--holdout", "0", "--no-validate"]


def test_a_torn_last_journal_line_is_read_past_and_dropped_before_a_resume_appends(market, hbopt):
    assert hbopt(*RUN, "--study", "torn", "--sampler", "random").code == 0
    journal = StudyFolder("torn").journal_path
    whole = journal.read_bytes()
    torn = whole + b'{"op_code":6,"worker_id":"killed","trial_id":1,"user_attr":{"sec'  # no newline: cut off
    journal.write_bytes(torn)
    best = hbopt("study", "best", "torn", "--json")
    assert best.code == 0 and len(json.loads(best.out)) == 3
    assert journal.read_bytes() == torn  # reading changes nothing

    run = hbopt(*RUN, "--study", "torn", "--sampler", "random")
    assert run.code == 0, run.err
    warning = "study torn: dropped the torn last line of its journal (64 bytes a killed run left half-written)"
    assert run.err.strip() == f"warning: {warning}"
    assert json.loads(run.out)[0]["warnings"] == [warning]
    lines = journal.read_bytes().split(b"\n")
    assert journal.read_bytes().startswith(whole) and lines[-1] == b"" and all(json.loads(x) for x in lines[:-1])
    trials = StudyFolder("torn").load().get_trials(deepcopy=False)
    assert len(trials) == 6 and all(t.state.name == "COMPLETE" for t in trials)


def test_a_trial_a_killed_run_left_running_is_failed_as_abandoned(market, hbopt):
    assert hbopt(*RUN, "--study", "ab").code == 0
    StudyFolder("ab").load().ask()  # what a run killed mid-trial leaves behind: a RUNNING trial
    assert hbopt(*RUN, "--study", "ab").code == 0
    trials = StudyFolder("ab").load().get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3 + ["FAIL"] + ["COMPLETE"] * 3
    rows = [json.loads(line) for line in hbopt("study", "export", "ab", "--format", "jsonl").out.splitlines()]
    assert rows[3]["error"] == "abandoned: its run ended before it finished"
