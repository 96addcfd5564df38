"""The Python API: ``hbopt.backtest``, ``discover``, ``validate`` and ``walkforward`` take the
command line's options as arguments and return what its ``--json`` prints."""
import json

import optuna
import pytest

import hbopt
from hbopt.errors import ConfigError, DataError, UsageError
from tests.conftest import CONNECTOR, PAIR


@pytest.fixture
def hbopt_cli(hbopt):
    """The command line, run in-process (the ``hbopt`` fixture, renamed: ``hbopt`` here is the package)."""
    return hbopt


def without_timings(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "timings"}


def test_a_backtest_from_python_is_the_one_the_command_line_prints(market, hbopt_cli):
    printed = hbopt_cli("backtest", "--controller", "bollinger", "--connector", CONNECTOR, "--pair", PAIR, "--days", "2",
                        "--set", "bb_length=60", "--maker-fee", "0.0001", "--json")
    assert printed.code == 0, printed.err
    result = hbopt.backtest(controller="bollinger", connector=CONNECTOR, pair=PAIR, days=2, sets={"bb_length": 60},
                            maker_fee=0.0001)
    assert without_timings(result) == without_timings(json.loads(printed.out))
    assert result["config"]["bb_length"] == 60 and result["engine"] == "turbo"
    with_ledger = hbopt.backtest(result["config"], days=2, ledger=True)
    assert with_ledger["account"] == result["account"] and with_ledger["ledger"]


def test_discover_returns_each_studys_summary_and_the_optuna_study(market):
    [run] = hbopt.discover(controller="bollinger", connector=CONNECTOR, pairs=[PAIR], days=8, n_trials=4, seed=2,
                           workers=1, study="nb", report=False, min_dsr=0.5)
    assert isinstance(run.study, optuna.Study) and len(run.study.trials) == run["trials"] == 4
    assert run["study"] == "nb" and run["validation"]["thresholds"]["min_dsr"] == 0.5
    assert json.loads(json.dumps(run)) == dict(run)  # plain data, as --json prints it

    again = hbopt.validate("nb", workers=1, sets={"total_amount_quote": 500})
    assert again["fixed"] == {"total_amount_quote": 500} and again["verdict"] in ("pass", "fail")
    with pytest.raises(ConfigError, match="bb_length: searched by the study, so not fixed by --set"):
        hbopt.validate("nb", workers=1, sets={"bb_length": 50})


def test_walkforward_returns_its_folds(market):
    [result] = hbopt.walkforward(controller="bollinger", connector=CONNECTOR, pairs=PAIR, days=10, folds=2,
                                 n_trials=2, workers=1, study="wf", seed=1)
    assert result["name"] == "wf" and len(result["folds"]) == 2


@pytest.mark.parametrize("call, error, message", [
    (lambda: hbopt.discover(controller="nope", pairs=PAIR), ConfigError, "unknown controller 'nope'"),
    (lambda: hbopt.discover(controller="bollinger", pairs=PAIR, days=400), ConfigError, "400 days is more than"),
    (lambda: hbopt.backtest(controller="bollinger", connector=CONNECTOR, pair="ETH-USDT"), DataError, "no candles"),
    (lambda: hbopt.backtest({"controller_name": "bollinger"}, controller="bollinger"), UsageError, "one of them"),
    (lambda: hbopt.walkforward(folds=0), UsageError, "folds must be from 1 to 50, not 0"),
])
def test_what_the_command_would_refuse_raises_its_error(market, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_importing_hbopt_loads_none_of_the_api_until_it_is_used():
    import subprocess
    import sys

    loaded = subprocess.run([sys.executable, "-c", "import sys, hbopt; print('pandas' in sys.modules, "
                             "'optuna' in sys.modules, callable(hbopt.discover))"], capture_output=True, text=True)
    assert loaded.stdout.split() == ["False", "False", "True"]
