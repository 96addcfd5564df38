"""Several drivers on one study: cron on several machines, ``--storage`` a database URL."""
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest

from hbopt.cache import synth
from hbopt.cache.mirror import Mirror
from hbopt.search.storage import StudyFolder
from tests.conftest import CONNECTOR, KEY_1M, PAIR

ARGS = ["discover", "--controller", "bollinger", "--connector", CONNECTOR, "--pairs", PAIR, "--days", "8", "--turbo",
        "--workers", "1", "--study", "shared", "--top", "1", "--no-validate", "--no-report", "--json"]


def drivers_at_once(url: str, n: int, trials: int) -> list[tuple[int, str]]:
    """Start ``n`` discover processes on the study at once; each one's exit code and stderr."""
    runs = [subprocess.Popen([sys.executable, "-m", "hbopt", *ARGS, "--iter", str(trials), "--storage", url],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    return [(run.wait(timeout=600), run.stderr.read()) for run in runs]


def assert_shared(url: str, drivers: int, trials: int) -> None:
    study = optuna.load_study(study_name="shared", storage=url)
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    assert states == ["COMPLETE"] * drivers * trials  # nobody failed anybody's trials
    runs = StudyFolder("shared").manifest()["runs"]
    assert len(runs) == drivers and {r["trials"] for r in runs} == {trials}


def test_two_driver_processes_share_one_study_on_a_sqlite_file(market, tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    runs = drivers_at_once(url, 2, 12)
    assert [code for code, _ in runs] == [0, 0], runs
    assert_shared(url, 2, 12)


def test_a_driver_on_another_machine_joins_with_the_study_s_windows_and_spec(market, hbopt, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    first = hbopt(*ARGS, "--iter", "4", "--storage", url)
    assert first.code == 0, first.err
    windows = json.loads(first.out)[0]["windows"]
    # another machine: its own home, and a longer series, so its own plan would differ
    monkeypatch.setenv("HBOPT_HOME", str(tmp_path / "other-home"))
    monkeypatch.setenv("HBOPT_MIRROR_DIR", str(tmp_path / "other-mirror"))
    from hbopt.cache.store import CandleStore
    CandleStore().add(KEY_1M, synth.generate(14, "1m", seed=12), {"synthetic": True})
    Mirror.default().refresh()
    second = hbopt(*ARGS, "--iter", "4", "--storage", url)
    assert second.code == 0, second.err
    assert json.loads(second.out)[0]["windows"] == windows
    assert len(optuna.load_study(study_name="shared", storage=url).get_trials()) == 8
    other = hbopt(*ARGS, "--iter", "4", "--storage", url, "--trade-cost", "0.001")
    assert other.code == 4 and "exists with a different trade_cost" in other.err


@pytest.fixture
def postgres(tmp_path):
    """A throwaway PostgreSQL server on a Unix socket, where PostgreSQL and psycopg2 are installed."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    pytest.importorskip("psycopg2")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL is not installed")
    as_user = []
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user")
        as_user = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="hbopt-pg-"))
    if as_user:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "hbopt"], check=True, capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
                    f"-k {folder} -c listen_addresses=''", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://hbopt@/postgres?host={folder}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_driver_processes_share_one_study_on_postgresql(market, postgres):
    runs = drivers_at_once(postgres, 2, 12)
    assert [code for code, _ in runs] == [0, 0], runs
    assert_shared(postgres, 2, 12)
