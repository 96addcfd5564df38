"""Resuming a study that a killed run left behind: a torn journal line, trials in flight."""
import json
import signal
import subprocess
import sys
import time

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


def test_a_run_writes_trials_only_once_finished_so_a_killed_run_leaves_none_running(market):
    folder = StudyFolder("killed")
    many = [a if a != "3" else "200" for a in RUN]  # --iter 200: it is killed long before
    run = subprocess.Popen([sys.executable, "-m", "hbopt", *many, "--study", "killed"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    try:
        while not (folder.exists() and folder.journal_path.is_file() and len(folder.load().get_trials(deepcopy=False)) >= 2):
            assert run.poll() is None, run.stderr.read().decode()
            time.sleep(0.2)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    states = {t.state.name for t in folder.load().get_trials(deepcopy=False)}
    assert states == {"COMPLETE"}


def test_a_trial_another_driver_holds_running_is_left_alone(market, hbopt):
    assert hbopt(*RUN, "--study", "shared").code == 0
    StudyFolder("shared").load().ask()  # another driver's trial in flight
    assert hbopt(*RUN, "--study", "shared").code == 0
    trials = StudyFolder("shared").load().get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3 + ["RUNNING"] + ["COMPLETE"] * 3
