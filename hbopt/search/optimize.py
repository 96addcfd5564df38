"""The optimisation loop: a sampler proposes parameters, the pool backtests them, results are
told to the optuna study as they arrive.

TPE and NSGA-II go through optuna's ask/tell (TPE with the constant liar, so trials in flight are
not proposed again). Random and grid search draw their points themselves, from (seed, index)
alone, and add finished trials to the study: the same seed gives the same trials whatever the
number of workers. Parameters already tried are never backtested again: the earlier result is
told once more, marked as a duplicate. Constraint violations are set on each completed trial with
optuna's ``set_constraint``: TPE and NSGA-II read them from there, and ``Study.best_trials``
never returns an infeasible trial.
"""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Callable

import optuna
from optuna.trial import TrialState

from hbopt.engine.parity import SUMMARY_FIELDS
from hbopt.engine.pool import Outcome, Pool, Trial
from hbopt.search.space import distributions, draw, grid_points, suggest
from hbopt.search.spec import StudySpec


def make_sampler(spec: StudySpec) -> optuna.samplers.BaseSampler:
    """The spec's optuna sampler; it reads constraints from the trials themselves."""
    if spec.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=spec.seed)
    if spec.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=spec.seed, constant_liar=True, multivariate=True)
    return optuna.samplers.RandomSampler(seed=spec.seed)  # unused for proposals: random/grid draw their own


def params_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


@dataclass
class Progress:
    """What a run has done so far, for the live view and the final summary."""

    target: int
    done: int = 0
    failed: int = 0
    duplicates: int = 0
    backtests: int = 0
    backtest_seconds: float = 0.0  # time workers spent in trials
    started: float = field(default_factory=time.monotonic)
    best: float | None = None
    best_params: dict | None = None
    errors: list[str] = field(default_factory=list)


class Optimizer:
    """Runs ``n_trials`` more trials of one study on a pool."""

    def __init__(self, study: optuna.Study, spec: StudySpec, pool: Pool, windows: dict | None = None):
        """``windows``: pair -> (start, end) each trial is backtested on (default: the spec's window)."""
        self.study, self.spec, self.pool, self.windows = study, spec, pool, windows
        self.space = list(spec.space)
        self._in_flight: dict[int, tuple[object, dict]] = {}    # trial number -> (optuna trial or index, params)
        self._waiting: dict[str, list[tuple[object, dict]]] = {}  # duplicates of trials in flight
        # params -> (values, attrs, constraints, number) of the trial that ran them
        self._known: dict[str, tuple[list[float], dict, dict, int | None]] = {}
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            self._known.setdefault(params_key(trial.params),
                                   (trial.values, trial.user_attrs, trial.constraints, trial.number))
        self._abandon_stale_trials()
        drawn = {t.user_attrs["draw_index"] for t in study.get_trials(deepcopy=False) if "draw_index" in t.user_attrs}
        highest = max(drawn, default=-1)
        # Points a stopped run drew but never finished come first, then new ones.
        self._indices = itertools.chain((i for i in range(highest) if i not in drawn), itertools.count(highest + 1))
        self._grid = grid_points(self.space) if spec.sampler == "grid" else None

    def _abandon_stale_trials(self) -> None:
        """Trials a killed run left RUNNING are failed: their results never arrived. (Optuna's
        public API cannot set their ``error``; readers call a failed trial without one abandoned.)"""
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.study.tell(trial.number, state=TrialState.FAIL)

    # -- proposing ----------------------------------------------------------------------------
    def _propose(self) -> tuple[object, dict] | None:
        if self.spec.sampler in ("tpe", "nsga2"):
            trial = self.study.ask()
            return trial, suggest(self.space, trial)
        index = next(self._indices)
        if self._grid is not None:
            if index >= len(self._grid):
                return None
            return index, self._grid[index]
        return index, draw(self.space, self.spec.seed, index)

    # -- recording ----------------------------------------------------------------------------
    def _record(self, handle, params: dict, values: list[float] | None, attrs: dict, constraints: dict,
                progress: Progress) -> None:
        if values is None:
            progress.failed += 1
            progress.errors.append(attrs.get("error", "?"))
        if isinstance(handle, optuna.Trial):
            for key, value in attrs.items():
                handle.set_user_attr(key, value)
            for key, value in constraints.items():
                handle.set_constraint(key, value)
            if values is None:
                self.study.tell(handle, state=TrialState.FAIL)
            else:
                self.study.tell(handle, values)
        else:
            frozen = optuna.trial.create_trial(
                params=params, distributions=distributions(self.space, params),
                values=values, state=TrialState.COMPLETE if values is not None else TrialState.FAIL,
                user_attrs={**attrs, "draw_index": handle})
            for key, value in constraints.items():
                frozen.set_constraint(key, value)
            self.study.add_trial(frozen)
        progress.done += 1
        if values is not None and not self.spec.multi_objective and not attrs.get("constraints_violated"):
            better = progress.best is None or (values[0] > progress.best if self.spec.objectives[0].direction ==
                                               "maximize" else values[0] < progress.best)
            if better:
                progress.best, progress.best_params = values[0], params

    def _finish(self, outcome: Outcome, progress: Progress) -> None:
        handle, params = self._in_flight.pop(outcome.trial.number)
        progress.backtest_seconds += outcome.seconds
        attrs = {"seconds": round(outcome.seconds, 3), "worker": outcome.worker}
        values, constraints = None, {}
        if outcome.error:
            attrs["error"] = outcome.error
        else:
            progress.backtests += len(outcome.results)
            constraints = self.spec.violations(outcome.results)
            attrs.update(self._result_attrs(outcome.results, constraints))
            try:
                values = self.spec.score(outcome.results)
            except ValueError as exc:
                attrs["error"], constraints = str(exc), {}
        self._record(handle, params, values, attrs, constraints, progress)
        key = params_key(params)
        number = handle.number if isinstance(handle, optuna.Trial) else None  # random/grid: set by the storage
        for twin_handle, twin_params in self._waiting.pop(key, []):
            self._record(twin_handle, twin_params, values, {**attrs, "duplicate": True, "duplicate_of": number},
                         constraints, progress)
            progress.duplicates += 1
        if values is not None:
            self._known.setdefault(key, (values, attrs, constraints, number))

    def _result_attrs(self, results: list[dict], constraints: dict) -> dict:
        """A completed trial's user attributes: per-pair metrics, configs, windows and PnL per period
        (``pnl``: ``{"period": s, "values": [per pair]}``), whether it breaks a constraint, and the
        distinct warnings of its backtests (``PAIR: ...`` with several pairs)."""
        metrics = [{k: r.get(k) for k in SUMMARY_FIELDS} | {"turbo_fallback": r.get("turbo_fallback")} for r in results]
        pairs = self.spec.pairs
        warnings = [f"{pair}: {w}" if len(pairs) > 1 else w for pair, r in zip(pairs, results) for w in r["warnings"]]
        return {"pairs": list(pairs), "metrics": metrics, "configs": [r["config"] for r in results],
                "window": [{"start": r["start"], "end": r["end"]} for r in results],
                "pnl": {"period": results[0]["pnl"]["period"], "values": [r["pnl"]["values"] for r in results]},
                "engine": results[0]["engine"], "constraints_violated": any(v > 0 for v in constraints.values()),
                "warnings": list(dict.fromkeys(warnings))}

    # -- the loop -----------------------------------------------------------------------------
    def run(self, n_trials: int, on_progress: Callable[[Progress], None] = lambda p: None) -> Progress:
        """Run ``n_trials`` more trials; on any exit (Ctrl-C included) trials still in flight are
        recorded as failed, and every finished one is already in the study."""
        progress = Progress(target=n_trials)
        issued = 0
        try:
            while progress.done < progress.target:
                while issued < progress.target and self.pool.idle_capacity > 0:
                    proposal = self._propose()
                    if proposal is None:  # the grid is exhausted
                        progress.target = issued
                        break
                    issued += 1
                    self._submit(*proposal, progress)
                for outcome in self.pool.poll(0.2):
                    self._finish(outcome, progress)
                on_progress(progress)
        finally:
            self._fail_in_flight("interrupted: the run stopped before this trial finished")
        return progress

    def _submit(self, handle, params: dict, progress: Progress) -> None:
        key = params_key(params)
        if key in self._known:
            values, attrs, constraints, number = self._known[key]
            attrs = {k: v for k, v in attrs.items() if k != "draw_index"} | {"duplicate": True, "duplicate_of": number}
            self._record(handle, params, list(values), attrs, constraints, progress)
            progress.duplicates += 1
            return
        if any(params_key(p) == key for _, p in self._in_flight.values()):
            self._waiting.setdefault(key, []).append((handle, params))
            return
        number = handle.number if isinstance(handle, optuna.Trial) else handle
        self._in_flight[number] = (handle, params)
        self.pool.submit([Trial(number, self.spec.backtests(params, self.windows))])

    def _fail_in_flight(self, reason: str) -> None:
        for handle, _ in list(self._in_flight.values()) + [w for ws in self._waiting.values() for w in ws]:
            if isinstance(handle, optuna.Trial):
                handle.set_user_attr("error", reason)
                self.study.tell(handle, state=TrialState.FAIL)
        self._in_flight.clear()
        self._waiting.clear()
