"""The batched TPE: one model fit per batch of proposals, a bounded model for large studies."""
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
    study = _study_with(50, sampler)
    sampler.expect(12)
    _, proposals = _ask(study, 12)
    assert fits() == 1
    assert len(set(proposals)) > 1  # distinct draws, not one point repeated
    _ask(study, 1)
    assert fits() == 2


def test_a_batch_covers_what_the_pool_can_take_and_grows_until_fitting_costs_little_per_proposal():
    sampler = BatchedTPESampler(seed=1)
    sampler.expect(3)
    assert sampler.batch_size() == 3  # before any fit
    sampler._fit_seconds = 40 * samplers.FIT_SECONDS_PER_PROPOSAL
    assert sampler.batch_size() == 40
    sampler.expect(70)
    assert sampler.batch_size() == 70
    sampler._fit_seconds = 1e9
    assert sampler.batch_size() == samplers.MAX_BATCH


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
        study = _study_with(30, sampler)
        sampler.expect(5)
        return _ask(study, 5)[1]
    assert proposals(3) == proposals(3) != proposals(4)
