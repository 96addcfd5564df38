"""What ``hbopt discover`` and ``hbopt study`` refuse, and how: one line, a meaningful exit code,
nothing created."""
import pytest
import yaml

from hbopt.errors import ConfigError, ControllerError, DataError, HboptError, describe
from hbopt.search.optimize import Progress
from hbopt.search.storage import studies_dir
from hbopt.search.studies import _refuse_if_hopeless
from tests.conftest import CONNECTOR, PAIR

PICK = ["--controller", "bollinger", "--connector", CONNECTOR, "--pairs", PAIR, "--iter", "2", "--workers", "1",
        "--no-report", "--holdout", "0", "--no-validate"]
BASE = [*PICK, "--study", "bad"]


def one_line_error(run, code: int, message: str) -> None:
    assert run.code == code, run.err
    assert len(run.err.strip().splitlines()) == 1 and "internal error" not in run.err
    assert message in run.err


@pytest.mark.parametrize("study_file, options, message", [
    (None, ["--objective", "pnl"], "unknown objective metric 'pnl'"),
    ({"engine": "warp"}, [], "engine must be one of stock, turbo, not 'warp'"),
    (None, ["--days", "nan"], "days must be a finite number, not nan"),
    (None, ["--start", "2025-02-01", "--end", "2025-01-01"], "is not before its end"),
    ({"window": {"days": -3}}, [], "days must be more than 0 and at most 36,500 (a century), not -3"),
    (None, ["--trade-cost", "1.5"], "trade_cost must be a fraction >= 0 and < 1"),
    (None, ["--resolution", "30s"], "resolution: unknown interval '30s'"),
    ({"space": {"bb_length": {"type": "int", "low": 20, "high": float("inf")}}}, [],
     "space parameter bb_length: low, high and step must be finite numbers"),
    ({"seed": "abc"}, [], "seed must be an integer from 0 to 2**32 - 1, not 'abc'"),
    ({"fixed": {"total_amount_quote": "lots"}}, [], "no point tried makes a valid config; the first: invalid bollinger config: total_amount_quote"),
    ({"feature_timing": "noon"}, [], "feature_timing must be one of close, open, not 'noon'"),
    (None, ["--storage", "nosuchdb://host/x"], "cannot open storage nosuchdb://host/x"),
    (None, ["--storage", "sqlite:////no/such/folder/studies.db"],
     "cannot open storage sqlite:////no/such/folder/studies.db: (sqlite3.OperationalError) unable to open database file"),
    (None, ["--holdout", "0.9"], "holdout must be a fraction of the window from 0 (none) to 0.75, not 0.9"),
])
def test_invalid_settings_are_refused_before_any_study_folder_exists(hbopt, tmp_path, study_file, options, message):
    args = []
    if study_file is not None:
        path = tmp_path / "study.yml"
        path.write_text(yaml.safe_dump(study_file))
        args = [path]
    one_line_error(hbopt("discover", *args, *BASE, *options), 4, message)
    assert not (studies_dir() / "bad").exists()


def test_a_refused_command_once_corrected_runs(market, hbopt):
    one_line_error(hbopt("discover", *BASE, "--objective", "pnl"), 4, "unknown objective metric 'pnl'")
    corrected = [*BASE, "--objective", "net_pnl_quote", "--days", "1", "--turbo"]
    run = hbopt("discover", *corrected, "--feature-timing", "open", "--json")
    assert run.code == 0, run.err
    changed = hbopt("discover", *corrected, "--feature-timing", "close")
    one_line_error(changed, 4, "study bad exists with a different feature_timing")


@pytest.mark.parametrize("command", [["best"], ["show"], ["export"], ["export-config", "--out", "conf"]])
def test_reading_a_study_that_does_not_exist_creates_nothing(hbopt, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    one_line_error(hbopt("study", command[0], "ghost", *command[1:]), 4, "no study named 'ghost'")
    assert not (studies_dir() / "ghost").exists() and not (tmp_path / "conf").exists()


def test_a_window_the_data_does_not_cover_is_exit_3_before_any_study_exists(market, hbopt):
    run = hbopt("discover", *BASE, "--turbo", "--start", "2020-01-01", "--end", "2020-01-02", "--quiet")
    one_line_error(run, 3, "1m candles cover 2025-12-20 00:00 UTC -> 2025-12-31 23:59 UTC, but the window needs")
    assert not (studies_dir() / "bad").exists()
    run = hbopt("discover", *BASE, "--turbo", "--days", "40", "--quiet")
    one_line_error(run, 4, "40 days is more than the 11.999 days of binance_perpetual BTC-USDT 1m candles stored")
    assert not (studies_dir() / "bad").exists()


@pytest.mark.parametrize("error, cls", [(DataError("no candles"), DataError), (ConfigError("bad"), ConfigError),
                                        (ControllerError("the controller raised"), ControllerError),
                                        (KeyError("bug"), HboptError)])
def test_when_every_trial_fails_the_first_failure_decides_the_exit_code(error, cls):
    progress = Progress(target=2, done=2, failed=2)
    progress.errors = [describe(error)] * 2
    with pytest.raises(HboptError) as raised:
        _refuse_if_hopeless(progress)
    assert type(raised.value) is cls and str(raised.value).startswith("all 2 trials failed; the first: ")


def test_an_address_without_the_ray_backend_is_a_usage_error(hbopt):
    run = hbopt("discover", *BASE, "--address", "auto")
    assert run.code == 2 and "--address needs --backend ray" in run.err
    assert not (studies_dir() / "bad").exists()


@pytest.mark.parametrize("command, code, message", [
    (["discover", *PICK, "--set", "total_amount_quote=0"], 4,
     "total_amount_quote must be more than 0, not 0: it is the account's starting capital"),
    (["discover", *PICK, "--days", "11.9"], 3, "for the warm-up of the space's point bb_length=300"),
    (["discover", *PICK, "--controller", "ma_cross", "--days", "2"], 3,
     "the space's trials need up to 8.38 d of indicator warm-up, as long as the 2 d in-sample window or longer"),
    (["walkforward", *PICK[:6], "--set", "total_amount_quote=0", "--iter", "2"], 4, "starting capital"),
    (["walkforward", *PICK[:6], "--days", "4", "--folds", "10", "--iter", "2"], 4, "leave no room for a test window"),
])
def test_a_failed_start_leaves_no_study_and_starts_no_worker(market, hbopt, monkeypatch, command, code, message):
    """Every check that can fail before the first trial runs before the study, its folder or a
    worker exists: the corrected command then runs as if the first had never been typed."""
    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started")
    monkeypatch.setattr("hbopt.validation.studies.open_pool", no_pool)
    one_line_error(hbopt(*command, "--study", "bad"), code, message)
    assert not studies_dir().exists() or not any(studies_dir().iterdir())
