"""The batched TPE: one model fit per batch of proposals, a bounded model for large studies."""
import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from hbopt.search import samplers
from hbopt.search.samplers import BatchedTPESampler


def _study_with(n: int, sampler) -> optuna.Study:
    study = optuna.create_study(sampler=sampler)
    for i in range(n):
        x = (i * 37 % 101) / 10
        study.add_trial(optuna.trial.create_trial(params={"x": x, "k": i % 7}, values=[(x - 3) ** 2],
                                                  distributions={"x": optuna.distributions.FloatDistribution(0, 10),
                                                                 "k": optuna.distributions.IntDistribution(0, 6)}))
    return study


def _ask(study, n):
    trials = [study.ask() for _ in range(n)]
    return trials, [(t.suggest_float("x", 0, 10), t.suggest_int("k", 0, 6)) for t in trials]


@pytest.fixture
def fits(monkeypatch):
    """How many model fits (two Parzen estimators each) the sampler makes."""
    calls = []
    original = BatchedTPESampler._build_parzen_estimator
    monkeypatch.setattr(BatchedTPESampler, "_build_parzen_estimator",
                        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    return lambda: len(calls) // 2


def test_a_batch_of_proposals_comes_from_one_model_fit(fits):
    sampler = BatchedTPESampler(seed=1, constant_liar=True, multivariate=True)
    study = _study_with(1000, sampler)
    _, proposals = _ask(study, 8)
    assert fits() == 1
    assert len(set(proposals)) > 1  # distinct draws, not one point repeated
    _ask(study, 1)
    assert fits() == 2


def test_a_batch_follows_from_the_study_alone_one_proposal_per_125_trials_a_fit_reads():
    assert [BatchedTPESampler.batch_size(n) for n in (0, 50, 125, 126, 1000, 1001, 50_000)] == [1, 1, 1, 2, 8, 8, 8]


def test_a_large_study_s_worse_trials_are_thinned_evenly_but_trials_in_flight_kept(monkeypatch):
    monkeypatch.setattr(samplers, "MAX_ABOVE", 10)
    study = _study_with(40, optuna.samplers.RandomSampler())
    running, _ = _ask(study, 2)
    trials = study.get_trials(deepcopy=False)
    above = [t for t in trials if t.state == TrialState.RUNNING or t.number >= 5]
    kept = samplers._thinned(above)
    assert [t.number for t in kept if t.state == TrialState.COMPLETE] == [5, 9, 13, 16, 20, 24, 28, 31, 35, 39]
    assert {t.number for t in kept if t.state == TrialState.RUNNING} == {t.number for t in running}


def test_proposals_are_seeded():
    def proposals(seed):
        sampler = BatchedTPESampler(seed=seed, constant_liar=True, multivariate=True)
        study = _study_with(300, sampler)  # batches of three
        return _ask(study, 5)[1]
    assert proposals(3) == proposals(3) != proposals(4)


def test_tpe_computes_the_normal_log_cdf_at_once_within_1e_12_of_optunas_own():
    from optuna.samplers._tpe import _truncnorm
    points = np.concatenate([np.linspace(-60, 40, 20_001), [-1e3, -20.000001, 5.999999, 6.000001, 1e3]])
    assert _truncnorm._log_ndtr is samplers._log_ndtr
    one_at_a_time = np.array([_truncnorm._log_ndtr_single(float(a)) for a in points])
    assert np.abs(_truncnorm._log_ndtr(points) - one_at_a_time).max() < 1e-12
