"""The command line as a user (or cron) sees it: help, JSON output, one-line errors, exit codes."""
import json
import subprocess
import sys

import pytest

from tests.conftest import CONNECTOR, PAIR

COMMANDS = [[], ["data"], ["data", "synth"], ["data", "import"], ["data", "fetch"], ["data", "list"],
            ["mirror"], ["mirror", "refresh"], ["mirror", "status"], ["mirror", "clear"], ["backtest"],
            ["controllers"], ["controllers", "list"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "hbopt")
def test_every_command_has_help(hbopt, command):
    run = hbopt(*command, "--help")
    assert run.code == 0 and "Usage: hbopt" in run.out


def test_synth_list_refresh_status_as_json(hbopt):
    synth = hbopt("data", "synth", "--connector", CONNECTOR, "--pair", PAIR, "--days", "2", "--seed", "7", "--json")
    assert synth.code == 0 and json.loads(synth.out)["rows"] == 2 * 1440
    assert json.loads(synth.out)["funding"]["rows"] == 6  # a perpetual pair: every 8 hours
    candles, funding = json.loads(hbopt("data", "list", "--json").out)
    assert candles["synthetic"] is True and candles["source"] == "synth" and candles["rows"] == 2 * 1440
    assert (funding["interval"], funding["synthetic"], funding["rows"]) == ("funding", True, 6)
    files = [f"{CONNECTOR}|{PAIR}|1m", f"{CONNECTOR}|{PAIR}|funding"]
    assert {f["state"] for f in json.loads(hbopt("mirror", "status", "--json").out)["files"]} == {"missing"}
    assert json.loads(hbopt("mirror", "refresh", "--json").out)["copied"] == files
    assert {f["state"] for f in json.loads(hbopt("mirror", "status", "--json").out)["files"]} == {"fresh"}
    assert json.loads(hbopt("mirror", "clear", "--json").out)["removed"] == files


def test_import_of_a_bad_file_is_one_line_exit_3_and_writes_nothing(hbopt, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n1700000040,10,11,9,10,1\n1700000100,10,8,9,10,1\n")
    run = hbopt("data", "import", bad, "--connector", "binance", "--pair", PAIR)
    assert run.code == 3 and run.err.strip() == (
        "error: row 2 (timestamp 1700000100, 2023-11-14 22:15 UTC): high < low (1 invalid row(s) in all; "
        "--repair drops them)")
    assert json.loads(hbopt("data", "list", "--json").out) == []
    assert hbopt("data", "import", bad, "--connector", "binance", "--pair", PAIR, "--repair").code == 0


def test_bad_usage_exits_2(hbopt):
    assert hbopt("backtest").code == 2
    assert hbopt("backtest", "--controller", "pmm", "--days", "3", "--start", "2025-01-01", "--end", "2025-01-02").code == 2
    assert hbopt("data", "synth", "--pair", PAIR).code == 2


def test_backtest_without_data_says_what_to_do(hbopt):
    run = hbopt("backtest", "--controller", "bollinger", "--connector", CONNECTOR, "--pair", PAIR)
    assert run.code == 3 and "import or fetch them, then 'hbopt mirror refresh'" in run.err


def test_the_console_script_runs_as_a_separate_process(tmp_path):
    run = subprocess.run([sys.executable, "-m", "hbopt", "--version"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("hbopt, version")
