"""Hostile and careless use, as real processes: each case ends in the exit code the README
documents with one line on stderr (nothing at all for a reader that left), never a traceback or
"internal error", and writes nothing it should not.

Every case runs on its own copy of one prepared home: six days of synthetic candles and a small
study ``s1`` (four random-search trials), with a mirror of its own.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

pytestmark = pytest.mark.xdist_group("hostile")  # one worker builds the prepared home once

CONNECTOR, PAIR = "binance_perpetual", "BTC-USDT"
STORED = f"{CONNECTOR}|{PAIR}|1m.parquet"
SEARCH = ["--controller", "bollinger", "--pairs", PAIR, "--days", "5", "--workers", "1", "--sampler", "random",
          "--seed", "1", "--turbo", "--holdout", "0", "--no-validate", "--no-report"]
BACKTEST = ["backtest", "--controller", "bollinger", "--pair", PAIR]


def run_hbopt(*args, home: Path, mirror: Path, env: dict | None = None, timeout: float = 120, **popen) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HBOPT_HOME": str(home), "HBOPT_MIRROR_DIR": str(mirror), **(env or {})}
    environment.pop("HBOPT_DEBUG", None)
    popen.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "hbopt", *map(str, args)], env=environment, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, **popen)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A home with six days of candles and the study s1."""
    root = tmp_path_factory.mktemp("prepared")
    home, mirror = root / "home", root / "mirror"
    for args in (["data", "synth", "--connector", CONNECTOR, "--pair", PAIR, "--days", "6", "--seed", "5"],
                 ["discover", *SEARCH, "--iter", "4", "--study", "s1", "--quiet"]):
        done = run_hbopt(*args, home=home, mirror=mirror)
        assert done.returncode == 0, done.stderr
    return home


@dataclass
class Where:
    """One case's folders: its home (a copy of the prepared one), its mirror and a scratch folder."""

    home: Path
    mirror: Path
    tmp: Path
    stored: bytes = b""  # the store file as prepared
    listing: tuple = ()  # the store folder's files as prepared

    @property
    def study(self) -> Path:
        return self.home / "studies" / "s1"

    def run(self, *args, **kwargs) -> subprocess.CompletedProcess:
        return run_hbopt(*(str(a).format(tmp=self.tmp, home=self.home) for a in args), home=self.home,
                         mirror=self.mirror, **kwargs)


@pytest.fixture
def where(prepared, tmp_path) -> Where:
    shutil.copytree(prepared, tmp_path / "home")
    (tmp_path / "tmp").mkdir()
    return Where(tmp_path / "home", tmp_path / "mirror", tmp_path / "tmp", (prepared / "candles" / STORED).read_bytes(),
                 tuple(sorted(p.name for p in (prepared / "candles").iterdir())))


def one_line(run: subprocess.CompletedProcess, code: int, says: str | None) -> None:
    assert run.returncode == code, run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    if says is None:
        assert run.stderr == ""
    else:
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: "), run.stderr
        assert re.search(says, run.stderr), run.stderr


def study_file(text: str) -> Callable[[Where], None]:
    return lambda w: (w.tmp / "study.yml").write_text(text)


def garbage_in_journal(line: int) -> Callable[[Where], None]:
    def damage(w: Where) -> None:
        lines = (w.study / "journal.log").read_bytes().splitlines(keepends=True)
        lines.insert(line - 1, b"}{ not a record\n")
        (w.study / "journal.log").write_bytes(b"".join(lines))
    return damage


def edited_manifest(change: Callable[[dict], object]) -> Callable[[Where], None]:
    def damage(w: Where) -> None:
        manifest = json.loads((w.study / "manifest.json").read_text())
        (w.study / "manifest.json").write_text(json.dumps(change(manifest)))
    return damage


def unchanged_store(w: Where) -> None:
    assert (w.home / "candles" / STORED).read_bytes() == w.stored
    assert tuple(sorted(p.name for p in (w.home / "candles").iterdir())) == w.listing


def no_study_x(w: Where) -> None:
    assert not (w.home / "studies" / "x").exists()


ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


@dataclass
class Case:
    name: str
    args: list
    code: int
    says: str | None
    setup: Callable[[Where], None] | None = None
    check: Callable[[Where], None] | None = None
    env: dict = field(default_factory=dict)


CASES = [
    # dates and numbers out of bounds
    Case("start -5", [*BACKTEST, "--start", "-5", "--end", "2025-01-01"], 4, r"--start: '-5' is before 2009"),
    Case("start in year 1", [*BACKTEST, "--start", "0001-01-01", "--end", "2025-01-01"], 4, "'0001-01-01' is before 2009"),
    Case("start in the future", [*BACKTEST, "--start", "2031-01-01", "--end", "2031-02-01"], 4, "is in the future"),
    Case("days 1e308", [*BACKTEST, "--days", "1e308"], 4, r"days must be more than 0 and at most 36,500"),
    Case("days beyond the data", [*BACKTEST, "--days", "30"], 4, r"30 days is more than the 5\.9993 days of .* stored"),
    Case("discover days 1e12", ["discover", *SEARCH, "--days", "1e12", "--iter", "2", "--study", "x"], 4,
         "at most 36,500", check=no_study_x),
    Case("400-digit days", ["discover", "{tmp}/study.yml", "--iter", "2", "--study", "x"], 4,
         "study.yml is beyond what hbopt reads: the integer 1000.* does not fit in 64 bits",
         study_file("window: {days: 1" + "0" * 400 + "}\n"), no_study_x),
    Case("alias bomb", ["discover", "{tmp}/study.yml", "--study", "x"], 4,
         "its aliases expand to more than 100,000 nodes", study_file(ALIAS_BOMB), no_study_x),
    Case("100,000-deep nesting", ["discover", "{tmp}/study.yml", "--study", "x"], 4,
         "nested more than 50 levels deep", study_file("a: " + "[" * 100_000 + "]" * 100_000 + "\n")),
    Case("5,000-digit integer", [*BACKTEST, "--days", "1", "--set", "bb_length=" + "7" * 5000], 4,
         "--set bb_length is beyond what hbopt reads: the integer 7777.* does not fit in 64 bits"),
    Case("YAML syntax error in --set", [*BACKTEST, "--days", "1", "--set", "bb_std=[1"], 4,
         r"--set bb_std is not valid YAML: expected ',' or '\]', but got '<stream end>' at line 1, column 3$"),
    Case("space step 1e-300", ["discover", "{tmp}/study.yml", "--study", "x"], 4,
         "space parameter bb_std: step 1e-300 is below the float precision of its range",
         study_file("space: {bb_std: {type: float, low: 0.1, high: 0.5, step: 1.0e-300}}\n"), no_study_x),
    Case("int high 1e29", ["discover", "{tmp}/study.yml", "--study", "x"], 4,
         "an int parameter needs bounds within", study_file("space: {bb_length: {type: int, low: 20, high: 1.0e+29}}\n")),
    Case("trial timeout 0.001", ["discover", *SEARCH, "--iter", "2", "--study", "x", "--trial-timeout", "0.001"], 4,
         r"--trial-timeout must be at least 1 s", check=no_study_x),
    Case("in-memory storage", ["discover", *SEARCH, "--iter", "2", "--study", "x", "--storage", "sqlite:///:memory:"],
         4, "is an in-memory database: the study would vanish", check=no_study_x),
    Case("study name with a newline", ["study", "show", "nl\n"], 4, r"invalid study name 'nl\\n'"),
    Case("--top -5", ["study", "best", "s1", "--top", "-5"], 2,
         r"^error: Invalid value for '--top': -5 is not in the range x>=1\. \(see 'hbopt study best --help'\)$"),
    Case("--best -1", ["study", "export-config", "s1", "--best", "-1", "--out", "{tmp}/conf"], 2,
         "Invalid value for '--best'", check=lambda w: not (w.tmp / "conf").exists() or pytest.fail("wrote configs")),
    Case("--best 0", ["study", "export-config", "s1", "--best", "0", "--out", "{tmp}/conf"], 2,
         "Invalid value for '--best': 0 is not in the range"),
    Case("--wait -1", ["--wait", "-1", "data", "list"], 2, r"--wait: -1.0 is not a number of seconds >= 0"),
    Case("mirror folder a file", ["mirror", "status"], 4,
         r"mirror folder .*/mirror-file is not a folder \(it is a regular file\) .*HBOPT_MIRROR_DIR",
         lambda w: (w.tmp / "mirror-file").write_text("x"), env={"HBOPT_MIRROR_DIR": "{tmp}/mirror-file"}),
    Case("synth ending 100 BC", ["data", "synth", "--connector", CONNECTOR, "--pair", PAIR, "--end", "-100"], 4,
         r"--end: '-100' is before 2009", check=unchanged_store),
    Case("synth start price 1e308", ["data", "synth", "--connector", CONNECTOR, "--pair", PAIR, "--days", "1",
                                     "--start-price", "1e308"], 4, "synth start price must be from", check=unchanged_store),
    Case("synth days 1e12", ["data", "synth", "--connector", CONNECTOR, "--pair", PAIR, "--days", "1e12"], 4,
         "synth days must be more than 0 and at most", check=unchanged_store),
    Case("trading rules not a mapping", [*BACKTEST, "--days", "1", "--turbo"], 4,
         "trading_rules.json must map connectors to pairs to rules",
         lambda w: (w.home / "trading_rules.json").write_text("[1]")),
    # damaged files
    Case("garbage line in the journal: best", ["study", "best", "s1"], 3,
         r"study s1: .*journal.log line 3 is damaged \(not a whole journal record\); "
         r"'hbopt study repair s1' keeps every whole record$", garbage_in_journal(3)),
    Case("garbage line in the journal: resume", ["discover", *SEARCH, "--iter", "2", "--study", "s1"], 3,
         r"journal.log line 4 is damaged", garbage_in_journal(4)),
    Case("garbage line in the journal: export", ["study", "export", "s1"], 3, r"journal.log line 2 is damaged",
         garbage_in_journal(2)),
    Case("garbage last line in the journal", ["study", "show", "s1"], 3, r"journal.log line 7 is damaged",
         garbage_in_journal(7)),
    Case("truncated manifest", ["study", "show", "s1"], 3,
         r"study s1: its manifest .*manifest.json is damaged \(.*\); 'hbopt study repair s1' rebuilds it",
         lambda w: (w.study / "manifest.json").write_bytes((w.study / "manifest.json").read_bytes()[:300])),
    Case("manifest without a spec", ["study", "best", "s1"], 3, r"is damaged \(it lacks or garbles spec\)",
         edited_manifest(lambda m: {**m, "spec": 5})),
    Case("manifest edited to an invalid spec", ["validate", "s1", "--workers", "1"], 3,
         r"the spec in its manifest .* is invalid \(days must be",
         edited_manifest(lambda m: {**m, "spec": {**m["spec"], "window": {"days": -4}}})),
    Case("deleted manifest, resumed on another window", ["discover", *SEARCH, "--days", "4", "--iter", "2",
                                                          "--study", "s1"], 3,
         r"its manifest .* is missing \(its windows are unknown, so it cannot be resumed or judged\)",
         lambda w: (w.study / "manifest.json").unlink()),
    Case("damaged validation", ["study", "best", "s1"], 3,
         r"study s1: its validation .*validation.json is damaged .*'hbopt validate s1' writes it again",
         lambda w: (w.study / "validation.json").write_text("{")),
    # output
    Case("standard output on a full disk", ["data", "list"], 4, "^error: cannot write standard output: the disk is full$"),
    Case("a ledger through a symbolic link", [*BACKTEST, "--days", "1", "--turbo", "--ledger", "{tmp}/link"], 4,
         r"link is a symbolic link: hbopt never writes through one",
         lambda w: (w.tmp / "link").symlink_to(w.tmp / "victim"),
         lambda w: not (w.tmp / "victim").exists() or pytest.fail("wrote through the link")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_use_is_one_line_and_its_exit_code(where, case):
    if case.setup:
        case.setup(where)
    env = {k: v.format(tmp=where.tmp) for k, v in case.env.items()}
    if case.name == "standard output on a full disk":
        with open("/dev/full", "w") as full:
            run = where.run(*case.args, env=env, stdout=full)
    else:
        run = where.run(*case.args, env=env)
    one_line(run, case.code, case.says)
    if case.check:
        case.check(where)


# ------------------------------------------------------------------------------ closed output
def test_a_reader_that_leaves_is_exit_141_with_nothing_said_however_much_was_left_to_write(where):
    for read in (0, 100):
        process = subprocess.Popen([sys.executable, "-m", "hbopt", "study", "export", "s1", "--format", "jsonl"],
                                   env={**os.environ, "HBOPT_HOME": str(where.home), "HBOPT_MIRROR_DIR": str(where.mirror)},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        fcntl.fcntl(process.stdout, fcntl.F_SETPIPE_SZ, 4096)  # the export (6 KB) cannot fit in the pipe
        assert len(os.read(process.stdout.fileno(), read)) == read if read else True
        process.stdout.close()
        assert process.wait(timeout=60) == 141 and process.stderr.read() == b"", read


def test_an_export_into_a_device_is_streamed_and_the_device_kept(where):
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    null = where.tmp / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    one_line(where.run("study", "export", "s1", "--out", null), 0, None)
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.lstat(null).st_rdev == os.makedev(1, 3)


def test_tables_degrade_to_ascii_and_an_encoding_never_makes_a_file_unreadable(where):
    """A pair named in Cyrillic, read where Python's file system encoding is ASCII."""
    ascii_only = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": "ascii"}
    one_line(where.run("data", "synth", "--connector", CONNECTOR, "--pair", "БТЦ-USDT", "--days", "1"), 0, None)
    for command in (["mirror", "refresh"], ["mirror", "status"], ["data", "list"]):
        run = where.run(*command, env=ascii_only)
        one_line(run, 0, None)
        assert run.stdout.isascii() and "unreadable" not in run.stdout and "error" not in run.stdout, command
    status = json.loads(where.run("mirror", "status", "--json").stdout)
    assert {r["pair"]: r["state"] for r in status["files"]} == {"BTC-USDT": "fresh", "БТЦ-USDT": "fresh"}
    shown = where.run("mirror", "status", env={"PYTHONIOENCODING": "latin-1"}).stdout  # not a terminal: nothing cut
    assert f"{CONNECTOR}|BTC-USDT|1m " in shown and f"{CONNECTOR}|???-USDT|1m " in shown  # what latin-1 lacks is "?"


# ------------------------------------------------------------------------------------ repairs
def test_a_damaged_journal_is_repaired_keeping_every_whole_record(where):
    garbage_in_journal(4)(where)
    one_line(where.run("study", "best", "s1"), 3, "line 4 is damaged")
    run = where.run("study", "repair", "s1", "--json")
    one_line(run, 0, None)
    report = json.loads(run.stdout)
    assert report["journal"]["kept"] == 7 and report["journal"]["dropped"] == [4] and report["manifest"] == "whole"
    assert b"not a record" in Path(report["journal"]["backup"]).read_bytes()
    resumed = where.run("discover", *SEARCH, "--iter", "2", "--study", "s1", "--json")
    one_line(resumed, 0, None)
    assert json.loads(resumed.stdout)[0]["trials"] == 6


def test_a_lost_manifest_is_rebuilt_and_its_window_kept(where):
    windows = json.loads((where.study / "manifest.json").read_text())["windows"]
    (where.study / "manifest.json").unlink()
    run = where.run("study", "repair", "s1")
    one_line(run, 0, None)
    assert "manifest rebuilt from the study's storage" in run.stdout
    assert json.loads((where.study / "manifest.json").read_text())["windows"] == windows
    one_line(where.run("discover", *SEARCH, "--days", "4", "--iter", "2", "--study", "s1"), 4,
             "study s1 exists with a different window")


def test_one_damaged_study_hides_no_other_in_the_list(where):
    copy = where.home / "studies" / "s2"  # s1 again, under another name
    shutil.copytree(where.study, copy)
    for name in ("journal.log", "manifest.json"):
        (copy / name).write_bytes((copy / name).read_bytes().replace(b'"s1"', b'"s2"'))
    (where.study / "manifest.json").write_text("{")
    run = where.run("study", "list", "--json")
    one_line(run, 0, None)
    rows = {r["study"]: r for r in json.loads(run.stdout)}
    assert "manifest.json is damaged" in rows["s1"]["error"] and rows["s2"]["trials"] == 4


def test_a_full_disk_during_a_search_is_exit_4_and_the_next_run_mends_the_journal(where):
    """The journal may grow by no more than a little: the file size limit stands in for a full disk."""
    journal = where.study / "journal.log"
    limit = journal.stat().st_size + 600
    one_line(where.run("mirror", "refresh"), 0, None)  # its arrays are larger than the limit

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    run = where.run("discover", *SEARCH, "--iter", "3", "--study", "s1", "--quiet", preexec_fn=small_files)
    one_line(run, 4, r"cannot write .*journal.log: File too large")
    assert journal.stat().st_size == limit  # a torn last line
    run = where.run("discover", *SEARCH, "--iter", "2", "--study", "s1", "--json")
    assert run.returncode == 0 and "dropped the torn last line of its journal" in run.stderr
    assert json.loads(run.stdout)[0]["trials"] == 6


# --------------------------------------------------------------------------------- the others
def test_a_controller_that_exits_when_imported_is_an_error_not_a_silent_success(where):
    folder = where.tmp / "mine" / "directional_trading"
    folder.mkdir(parents=True)
    (where.tmp / "mine" / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    (folder / "quitter.py").write_text("raise SystemExit(0)\n")
    listed = where.run("controllers", "list", "--controllers-path", where.tmp / "mine", "--json")
    one_line(listed, 0, None)
    [row] = [r for r in json.loads(listed.stdout) if r["name"] == "quitter"]
    assert row["error"] == "cannot import controller quitter: SystemExit: 0"
    run = where.run(*BACKTEST[:2], "quitter", "--pair", PAIR, "--days", "1", "--json",
                    "--controllers-path", where.tmp / "mine")
    one_line(run, 4, "cannot import controller quitter: SystemExit: 0")
    assert run.stdout == ""


def _loaded(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def test_ctrl_c_while_the_command_line_is_imported_is_exit_130_saying_interrupted(where):
    """The signal is sent as soon as the process maps a C module that importing the command line
    loads (click's first and a later one), with Ctrl-C's usual handling restored for the child
    (a background job's children inherit it ignored)."""
    for library in ("_opcode", "_datetime"):
        process = subprocess.Popen([sys.executable, "-m", "hbopt", "data", "list"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                                   env={**os.environ, "HBOPT_HOME": str(where.home), "HBOPT_MIRROR_DIR": str(where.mirror)})
        while process.poll() is None and not _loaded(process.pid, library):
            time.sleep(0.001)
        process.send_signal(signal.SIGINT)
        _, said = process.communicate(timeout=60)
        # killed by the signal itself (-2) is what a shell also reports as 130
        assert process.returncode in (130, -signal.SIGINT) and said == "interrupted\n", (library, said)
