"""Holdout and walk-forward windows never overlap what they judge, gap included."""
import pytest

from hbopt.errors import ConfigError
from hbopt.validation.windows import DAY, Segment, disjoint, folds, holdout_split

TICK, GAP = 60, 86400
WINDOW = Segment(1_700_000_040, 1_700_000_040 + 90 * DAY)


def test_the_holdout_is_the_last_part_of_the_window_after_a_gap():
    in_sample, holdout = holdout_split(WINDOW, 0.25, TICK, GAP)
    assert in_sample.start == WINDOW.start and holdout.end == WINDOW.end
    assert in_sample.end + TICK + GAP == holdout.start  # the in-sample data ends where the gap starts
    assert disjoint(in_sample, holdout, TICK, GAP) and not disjoint(in_sample, holdout, TICK, GAP + TICK)
    assert holdout.days == pytest.approx(22.5 - 1, abs=1 / 1440)
    assert in_sample.end % TICK == WINDOW.start % TICK  # on the tick grid


def test_no_holdout_leaves_the_window_whole_and_a_window_too_short_is_refused():
    assert holdout_split(WINDOW, 0, TICK, GAP) == (WINDOW, None)
    with pytest.raises(ConfigError, match="no room"):
        holdout_split(Segment(WINDOW.start, WINDOW.start + DAY), 0.25, TICK, GAP)


@pytest.mark.parametrize("anchored", [False, True])
def test_folds_test_one_after_another_each_after_its_training_and_a_gap(anchored):
    made = folds(WINDOW, 4, TICK, GAP, anchored)
    assert len(made) == 4
    for i, (train, test) in enumerate(made):
        assert train.end + TICK + GAP == test.start  # trains up to the gap before its test
        assert train.start == WINDOW.start if anchored or i == 0 else train.start > made[i - 1][0].start
        if i:
            assert disjoint(made[i - 1][1], test, TICK, 0)  # test windows follow one another
            assert test.start - made[i - 1][1].end == TICK + GAP
    assert made[-1][1].end == WINDOW.end
    train_days = [train.days for train, _ in made]
    assert (train_days == sorted(train_days) and train_days[0] < train_days[-1]) if anchored else \
        max(train_days) - min(train_days) <= 1 / 1440 + 1e-9


def test_too_many_folds_for_the_gap_are_refused():
    with pytest.raises(ConfigError, match="folds"):
        folds(Segment(WINDOW.start, WINDOW.start + 5 * DAY), 8, TICK, GAP)
