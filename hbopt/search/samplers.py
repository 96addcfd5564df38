"""The optuna samplers a study can use, and the batched TPE that keeps the driver cheap.

Optuna's TPE fits two Parzen estimators over every finished trial for each proposal: 16 ms at
1,000 trials and 94 ms at 10,000 on one core here, more than a 70 ms backtest, so a driver
asking once per trial cannot feed more than a few workers. :class:`BatchedTPESampler` fits the
model once per batch and draws the batch's proposals from it, each the way TPE draws one (the
best of ``n_ei_candidates`` candidates by l(x)/g(x)), as that many workers asking at the same
moment would get them. A batch is what the pool can take now, grown so that fitting costs at
most :data:`FIT_SECONDS_PER_PROPOSAL` of CPU per proposal: while fits are cheap (small
studies) TPE refits for nearly every trial as plain TPE does, and at 1,000 trials a fit serves
about eight. Once the study is large, the "above" set (the worse trials, whose density only
sets g(x)) is an even subsample of :data:`MAX_ABOVE` of them, so a fit stays bounded.
``hbopt bench --search`` compares the best found after N trials with plain sequential TPE.
"""
from __future__ import annotations

import math
import time

import numpy as np
import optuna
from optuna.samplers._tpe.sampler import _split_trials, default_gamma, default_gamma_multiobjective
from optuna.trial import TrialState

FIT_SECONDS_PER_PROPOSAL = 0.002
MAX_BATCH = 128
MAX_ABOVE = 1000


def make_sampler(sampler: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """The optuna sampler for ``sampler`` (random and grid draw their own points; the random sampler
    returned for them is never asked)."""
    if sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if sampler == "tpe":
        return BatchedTPESampler(seed=seed, constant_liar=True, multivariate=True)
    return optuna.samplers.RandomSampler(seed=seed)


class BatchedTPESampler(optuna.samplers.TPESampler):
    """Multivariate TPE with the constant liar, one model fit per batch of proposals. Tell it
    with :meth:`expect` how many trials are about to be asked for, so that a batch covers them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._ready: list[tuple[tuple, dict]] = []  # (search space names, params) drawn from the last fit
        self._wanted = 1
        self._fit_seconds = 0.0  # CPU time of the last fit

    def expect(self, n: int) -> None:
        """``n`` trials are about to be asked for: the next fit draws at least that many."""
        self._wanted = max(1, n)

    def batch_size(self) -> int:
        """What the pool can take now, or as many as make the last fit's CPU time (model and
        candidates) :data:`FIT_SECONDS_PER_PROPOSAL` per proposal, up to :data:`MAX_BATCH`."""
        return max(self._wanted, min(MAX_BATCH, math.ceil(self._fit_seconds / FIT_SECONDS_PER_PROPOSAL)))

    def _sample(self, study, trial, search_space):
        names = tuple(search_space)
        if self._ready and self._ready[0][0] == names:
            return self._ready.pop(0)[1]
        began = time.thread_time()
        trials = [t for t in study._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                       TrialState.RUNNING), use_cache=False)
                  if t.number != trial.number]
        finished = sum(t.state != TrialState.RUNNING for t in trials)
        gamma = self._gamma or (default_gamma if len(study.directions) == 1 else default_gamma_multiobjective)
        below, above = _split_trials(study, trials, gamma(finished))
        above = _thinned(above)
        mpe_below = self._build_parzen_estimator(study, search_space, below, handle_below=True)
        mpe_above = self._build_parzen_estimator(study, search_space, above, handle_below=False)
        batch = self.batch_size()
        candidates = mpe_below.sample(self._rng.rng, self._n_ei_candidates * batch)
        scores = self._compute_acquisition_func(candidates, mpe_below, mpe_above).reshape(batch, -1)
        picks = scores.argmax(axis=1) + np.arange(batch) * self._n_ei_candidates
        proposals = [(names, {name: dist.to_external_repr(candidates[name][i].item())
                              for name, dist in search_space.items()}) for i in picks]
        self._ready = proposals[1:]
        self._fit_seconds = time.thread_time() - began
        return proposals[0][1]


def _thinned(above: list) -> list:
    """At most ``MAX_ABOVE`` finished trials, evenly spread from oldest to newest (TPE weighs
    recent trials more), and every running one (the constant liar's)."""
    finished = [t for t in above if t.state != TrialState.RUNNING]
    if len(finished) <= MAX_ABOVE:
        return above
    kept = {finished[i].number for i in np.linspace(0, len(finished) - 1, MAX_ABOVE).round().astype(int)}
    return [t for t in above if t.number in kept or t.state == TrialState.RUNNING]
