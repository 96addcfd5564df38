"""``discover --warm-start OLD``: a new study on today's window that runs yesterday's best first."""
import json

import pytest
import yaml

from hbopt.search.storage import StudyFolder
from hbopt.search.studies import ranked
from tests.conftest import CONNECTOR, PAIR

RUN = ["--controller", "bollinger", "--connector", CONNECTOR, "--pairs", PAIR, "--days", "1", "--workers", "1",
       "--holdout", "0", "--no-validate", "--no-report", "--json"]


def points(trials) -> list[dict]:
    """The trials' params as a person reads them (0.25, not the 0.25000000000000006 optuna drew)."""
    return [{k: round(v, 9) if isinstance(v, float) else v for k, v in t.params.items()} for t in trials]


@pytest.fixture
def yesterday(market, hbopt):
    """A study of 6 trials, ``old``."""
    run = hbopt("discover", *RUN, "--iter", "6", "--study", "old", "--seed", "5")
    assert run.code == 0, run.err
    return StudyFolder("old").load()


def test_the_new_study_runs_the_old_studys_best_trials_first(yesterday, hbopt):
    run = hbopt("discover", *RUN, "--iter", "5", "--study", "new", "--warm-start", "old", "--warm-trials", "3")
    assert run.code == 0, run.err
    trials = StudyFolder("new").load().trials
    assert points(trials[:3]) == points(ranked(yesterday)[:3])
    assert [t.user_attrs.get("warm_start", False) for t in trials] == [True, True, True, False, False]
    assert len(trials) == 5  # the warm trials count among the --iter


def test_a_per_pair_study_warm_starts_from_the_same_pairs_study(market, hbopt):
    """A run over several pairs names its studies NAME_PAIR: --warm-start NAME finds this pair's."""
    assert hbopt("discover", *RUN, "--iter", "3", "--study", f"night_{PAIR}", "--seed", "1").code == 0
    run = hbopt("discover", *RUN, "--iter", "1", "--study", "night2", "--warm-start", "night", "--warm-trials", "1")
    assert run.code == 0, run.err
    [first] = StudyFolder("night2").load().trials
    assert points([first]) == points(ranked(StudyFolder(f"night_{PAIR}").load())[:1])


def test_values_the_new_space_cannot_draw_are_left_to_the_sampler(yesterday, hbopt, tmp_path):
    narrower = tmp_path / "narrow.yml"
    narrower.write_text(yaml.safe_dump({"space": {"bb_length": {"type": "int", "low": 20, "high": 40, "step": 10},
                                                  "bb_std": {"type": "float", "low": 1.0, "high": 3.0, "step": 0.1}}}))
    run = hbopt("discover", narrower, *RUN, "--iter", "2", "--study", "narrow", "--warm-start", "old",
                "--warm-trials", "2")
    assert run.code == 0, run.err
    old_best = ranked(yesterday)[:2]
    for old, new in zip(old_best, StudyFolder("narrow").load().trials):
        assert new.params["bb_std"] == pytest.approx(old.params["bb_std"])
        assert 20 <= new.params["bb_length"] <= 40  # the old value where it fits, else a fresh draw


def test_a_warm_start_that_cannot_be_made_is_refused_before_the_study_exists(yesterday, hbopt):
    for options, message in [
        (["--warm-start", "nosuch"], "--warm-start: no study named 'nosuch' or 'nosuch_BTC-USDT'"),
        (["--warm-start", "old", "--sampler", "random"], "--warm-start needs a model sampler (tpe or nsga2), not random"),
        (["--warm-start", "old", "--controller", "ma_cross", "--days", "3"],
         "--warm-start: study old optimised bollinger, not ma_cross"),
        (["--warm-trials", "3"], "--warm-trials goes with --warm-start"),
    ]:
        run = hbopt("discover", *RUN, "--iter", "2", "--study", "refused", *options)
        assert run.code in (2, 4) and message in run.err, run.err
        assert not StudyFolder("refused").path.exists()
    itself = hbopt("discover", *RUN, "--iter", "2", "--study", "old", "--warm-start", "old")
    assert itself.code == 4 and "--warm-start old: a study cannot warm-start itself" in itself.err
    assert len(StudyFolder("old").load().trials) == 6  # nothing added


def test_warm_start_is_in_the_python_api_too(yesterday):
    import hbopt

    [run] = hbopt.discover(controller="bollinger", connector=CONNECTOR, pairs=PAIR, days=1, n_trials=2, holdout=0,
                           workers=1, validate=False, report=False, study="api", warm_start="old", warm_trials=1)
    assert points(run.study.trials[:1]) == points(ranked(yesterday)[:1])
    assert json.loads(json.dumps(run))["study"] == "api"
