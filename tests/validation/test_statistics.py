"""The overfitting statistics against the papers' numbers and hand-computed cases."""
import math

import numpy as np
import pytest

from hbopt.engine.account import sharpe
from hbopt.validation.statistics import (deflated_sharpe, effective_trials, expected_max_sharpe, moments, pbo,
                                       probabilistic_sharpe)


def test_deflated_sharpe_matches_the_papers_numerical_example():
    # Bailey & López de Prado (2014), section "A numerical example": annualised SR 2.5 over 5 years of
    # daily returns (T = 1250), N = 100 trials whose annualised SRs vary by 1/2, skew -3, kurtosis 10.
    dsr, sr0 = deflated_sharpe(2.5 / math.sqrt(250), 100, 0.5 / 250, 1250, -3.0, 10.0)
    assert sr0 == pytest.approx(0.1132, abs=1e-4)
    assert dsr == pytest.approx(0.9004, abs=1e-3)


def test_expected_max_sharpe_is_the_mean_maximum_of_skill_less_trials():
    rng = np.random.default_rng(0)
    simulated = rng.standard_normal((20_000, 100)).max(axis=1).mean()  # E[max of 100 N(0, 1)] ~ 2.508
    assert expected_max_sharpe(1.0, 100) == pytest.approx(simulated, abs=0.03)
    assert expected_max_sharpe(4.0, 100) == pytest.approx(2 * expected_max_sharpe(1.0, 100))
    assert expected_max_sharpe(1.0, 1) == 0.0


def test_probabilistic_sharpe_is_one_half_at_the_benchmark_and_grows_with_length():
    assert probabilistic_sharpe(0.1, 0.1, 100, 0.0, 3.0) == pytest.approx(0.5)
    assert probabilistic_sharpe(0.1, 0.0, 1000, 0.0, 3.0) > probabilistic_sharpe(0.1, 0.0, 100, 0.0, 3.0)
    # negative skew and fat tails make the same Sharpe ratio less certain
    assert probabilistic_sharpe(0.2, 0.0, 100, -3.0, 10.0) < probabilistic_sharpe(0.2, 0.0, 100, 0.0, 3.0)


def test_sharpe_and_moments_of_simple_series():
    assert sharpe([1.0, 2.0, 3.0]) == pytest.approx(2.0)
    assert sharpe([1.0, 1.0]) == 0.0
    skew, kurtosis = moments(np.random.default_rng(1).standard_normal(200_000))
    assert skew == pytest.approx(0.0, abs=0.02) and kurtosis == pytest.approx(3.0, abs=0.05)
    assert moments([2.0, 2.0]) == (0.0, 3.0)


def test_effective_trials_counts_each_cluster_of_correlated_trials_once():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((500, 2))
    assert effective_trials(np.repeat(base[:, :1], 20, axis=1)) == 1
    assert effective_trials(rng.standard_normal((500, 20))) == 20
    # two families of ten variants each (correlation ~0.9 within, ~0 across), and one flat trial
    families = np.hstack([np.repeat(base[:, i:i + 1], 10, axis=1) + 0.3 * rng.standard_normal((500, 10)) for i in (0, 1)])
    assert effective_trials(families) == 2
    assert effective_trials(np.hstack([families, np.zeros((500, 1))])) == 3
    # past the limit an even sample is clustered and the count scaled up
    assert effective_trials(rng.standard_normal((500, 40)), limit=20) == 40
    assert effective_trials(families, limit=10) == 4


def test_pbo_of_a_hand_computed_case():
    # two blocks of two rows; per-block Sharpe ratios (mean / sample std):
    #   A: block 1 [1, 2] -> 2.12, block 2 [-1, -2] -> -2.12
    #   B: block 1 [0, 1] -> 0.71, block 2 [1, 2] -> 2.12
    #   C: block 1 [3, 1] -> 1.41, block 2 [0, 1] -> 0.71
    # train on block 1: A is best and ranks last (1 of 3) on block 2; train on block 2: B is best and
    # ranks last on block 1. Both logits are ln((1/4) / (3/4)); PBO = 1.
    matrix = np.array([[1, 0, 3], [2, 1, 1], [-1, 1, 0], [-2, 2, 1]], dtype=float)
    result = pbo(matrix, blocks=2)
    assert result.splits == 2
    assert result.logits == pytest.approx([math.log(1 / 3)] * 2)
    assert result.probability == 1.0


def test_pbo_is_near_one_half_without_skill_and_near_zero_with_it():
    # without skill the in-sample best is as likely to rank low as high out of sample: PBO varies
    # widely from one sample to the next, around 1/2
    samples = [np.random.default_rng(seed).standard_normal((320, 40)) for seed in range(12)]
    assert 0.4 < np.mean([pbo(noise).probability for noise in samples]) < 0.6
    skilled = samples[3].copy()
    skilled[:, 7] += 0.6  # one trial with a real, persistent edge
    result = pbo(skilled)
    assert result.probability < 0.05 and result.splits == 12_870


def test_pbo_refuses_too_little_data():
    with pytest.raises(ValueError, match="periods"):
        pbo(np.zeros((20, 5)), blocks=16)
    with pytest.raises(ValueError, match="even"):
        pbo(np.zeros((40, 5)), blocks=3)
