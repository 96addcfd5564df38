"""The optuna samplers a study can use, and the batched TPE that keeps the driver cheap.

Optuna's TPE fits two Parzen estimators over every finished trial for each proposal: 16 ms at
1,000 trials and 94 ms at 10,000 on one core here, more than a 70 ms backtest, so a driver
asking once per trial cannot feed more than a few workers. :class:`BatchedTPESampler` fits the
model once per batch and draws the batch's proposals from it, each the way TPE draws one (the
best of ``n_ei_candidates`` candidates by l(x)/g(x)), as that many workers asking at the same
moment would get them. A batch's size follows from the study alone, so that the same study
and seed always give the same proposals: one per :data:`TRIALS_PER_PROPOSAL` finished trials
that a fit reads (so fitting costs about 2 ms of CPU per proposal), at least one. Below 125
trials TPE refits for every trial as plain TPE does; at 1,000 a fit serves eight. Once the
study is large, the "above" set (the worse trials, whose density only sets g(x)) is an even
subsample of :data:`MAX_ABOVE` of them, so a fit stays bounded, and so does the batch.
``hbopt bench --search`` compares the best found after N trials with plain sequential TPE.

Optuna evaluates the normal distribution's log CDF, which every stepped or integer parameter's
density needs for each candidate and kernel, one element at a time in Python: about 1.8 million
calls and a third of the driver's CPU over a 1,000-trial study. Importing this module has TPE
(plain and batched) compute it with ``scipy.special.log_ndtr``, the same function in C, about
30 times faster, within 1e-12 of optuna's own (which approximates it above 6).
"""
from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.samplers._tpe import _truncnorm
from optuna.samplers._tpe.sampler import _split_trials, default_gamma, default_gamma_multiobjective
from optuna.trial import TrialState
from scipy.special import log_ndtr

TRIALS_PER_PROPOSAL = 125
MAX_ABOVE = 1000


def _log_ndtr(a: np.ndarray) -> np.ndarray:
    """log(Phi(a)), elementwise (see the module)."""
    return log_ndtr(np.asarray(a, dtype=float))


_truncnorm._log_ndtr = _log_ndtr


def make_sampler(sampler: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """The optuna sampler for ``sampler`` (random and grid draw their own points; the random sampler
    returned for them is never asked)."""
    if sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if sampler == "tpe":
        return BatchedTPESampler(seed=seed, constant_liar=True, multivariate=True)
    return optuna.samplers.RandomSampler(seed=seed)


class BatchedTPESampler(optuna.samplers.TPESampler):
    """Multivariate TPE with the constant liar, one model fit per batch of proposals (see the
    module)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._ready: list[tuple[tuple, dict]] = []  # (search space names, params) drawn from the last fit

    @staticmethod
    def batch_size(finished: int) -> int:
        """How many proposals a fit over ``finished`` trials draws."""
        return max(1, math.ceil(min(finished, MAX_ABOVE) / TRIALS_PER_PROPOSAL))

    def _sample(self, study, trial, search_space):
        names = tuple(search_space)
        if self._ready and self._ready[0][0] == names:
            return self._ready.pop(0)[1]
        trials = [t for t in study._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                       TrialState.RUNNING), use_cache=False)
                  if t.number != trial.number]
        finished = sum(t.state != TrialState.RUNNING for t in trials)
        gamma = self._gamma or (default_gamma if len(study.directions) == 1 else default_gamma_multiobjective)
        below, above = _split_trials(study, trials, gamma(finished))
        above = _thinned(above)
        mpe_below = self._build_parzen_estimator(study, search_space, below, handle_below=True)
        mpe_above = self._build_parzen_estimator(study, search_space, above, handle_below=False)
        batch = self.batch_size(finished)
        candidates = mpe_below.sample(self._rng.rng, self._n_ei_candidates * batch)
        scores = self._compute_acquisition_func(candidates, mpe_below, mpe_above).reshape(batch, -1)
        picks = scores.argmax(axis=1) + np.arange(batch) * self._n_ei_candidates
        proposals = [(names, {name: dist.to_external_repr(candidates[name][i].item())
                              for name, dist in search_space.items()}) for i in picks]
        self._ready = proposals[1:]
        return proposals[0][1]


def _thinned(above: list) -> list:
    """At most ``MAX_ABOVE`` finished trials, evenly spread from oldest to newest (TPE weighs
    recent trials more), and every running one (the constant liar's)."""
    finished = [t for t in above if t.state != TrialState.RUNNING]
    if len(finished) <= MAX_ABOVE:
        return above
    kept = {finished[i].number for i in np.linspace(0, len(finished) - 1, MAX_ABOVE).round().astype(int)}
    return [t for t in above if t.number in kept or t.state == TrialState.RUNNING]
