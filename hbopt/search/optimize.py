"""The optimisation loop: a sampler proposes parameters, the pool backtests them, and each result
is recorded in the study as one finished trial.

The sampler works on a model of the study held in memory (an optuna study on in-memory
storage): asking and telling there cost no disk writes, and TPE's constant liar sees this run's
trials in flight. A trial reaches the study's storage once, finished: one journal line or one
database insert, where ask, suggest, user attributes and tell made about twenty fsynced writes.
So a run never leaves a RUNNING trial behind and never touches another run's: several drivers
can share one study (an RDB ``--storage``), each reading what the others finished into its model
and its duplicate check every :data:`SYNC_SECONDS`.

TPE proposes in batches from one model fit (:class:`~hbopt.search.samplers.BatchedTPESampler`);
NSGA-II asks per trial. Random and grid search draw their points themselves, from (seed, index)
alone, so the same seed gives the same trials whatever the number of workers or the backend.

A model's proposals are reproducible too, however the workers' timing falls: the model is told
its trials in the order it asked for them, and asking for the ``i``-th proposal of a run waits
until proposals ``0 .. i - lag`` are told and tells no later one, ``lag`` being
:data:`LAG_PER_WORKER` times the workers. So every proposal is drawn from the same model state
(the study's earlier trials, this run's finished ones up to ``i - lag``, the rest as running for
TPE's constant liar) on every run with the same seed and workers, and the study stores the
trials in that order. The price is a worker left idle while the oldest trial still runs and
``lag - 1`` later ones have finished: :attr:`Progress.held_share` measures it. A run killed
outright loses the finished trials still waiting for an older one (at most ``lag``); a run
stopped any other way records them.

A proposal that breaks one of the space's relations is never backtested: the model is told it
failed (TPE and NSGA-II then draw again from the same fit's state) and a random or grid point
is skipped; :attr:`Progress.rejected` counts them, and :data:`MAX_REJECTED` in a row is an error.

Parameters already tried are never backtested again: the earlier result is recorded once more,
marked as a duplicate. Constraint violations are set on each completed trial with optuna's
``set_constraint``: TPE and NSGA-II read them from there, and ``Study.best_trials`` never
returns an infeasible trial.
"""
from __future__ import annotations

import collections
import copy
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import optuna
from optuna.trial import TrialState

from hbopt.engine.parity import SUMMARY_FIELDS
from hbopt.errors import ConfigError
from hbopt.engine.pool import Outcome, Pool, Trial
from hbopt.search.samplers import make_sampler
from hbopt.search.space import distributions, draw, grid_points, on_steps, suggest
from hbopt.search.spec import StudySpec

optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per study created, model included

SYNC_SECONDS = 5.0
LAG_PER_WORKER = 3  # proposals a model runs ahead of what it is told, per worker
MAX_REJECTED = 10_000  # proposals in a row that break a relation before a run gives up
_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


def params_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


@dataclass
class TurboFallbacks:
    """How many trials that asked for the turbo engine ran the stock engine instead for any of
    their backtests, and how many trials each reason stopped turbo for, counted from the trials'
    user attributes (:meth:`Optimizer._result_attrs`). A trial counts once however many of its
    pairs fell back; duplicates (which ran no backtest) and trials without results do not count."""

    turbo_trials: int = 0
    fell_back: int = 0
    reasons: collections.Counter = field(default_factory=collections.Counter)

    @classmethod
    def of(cls, trials_attrs: Iterable[dict]) -> TurboFallbacks:
        tally = cls()
        for attrs in trials_attrs:
            tally.add(attrs)
        return tally

    def add(self, attrs: dict) -> None:
        if attrs.get("duplicate") or "metrics" not in attrs:
            return
        reasons = {m["turbo_fallback"] for m in attrs["metrics"] if m.get("turbo_fallback")}
        if reasons or attrs.get("engine") == "turbo":
            self.turbo_trials += 1
            self.fell_back += bool(reasons)
            self.reasons.update(reasons)

    def as_dict(self) -> dict:
        """``trials`` that fell back, of ``turbo_trials``; their ``share``; ``reasons`` with their
        trial counts, the most frequent first."""
        return {"trials": self.fell_back, "turbo_trials": self.turbo_trials,
                "share": round(self.fell_back / self.turbo_trials, 4) if self.turbo_trials else 0.0,
                "reasons": dict(self.reasons.most_common())}


@dataclass
class Progress:
    """What a run has done so far, for the live view and the final summary."""

    target: int
    done: int = 0
    issued: int = 0  # trials handed to the pool (or recorded at once as duplicates)
    failed: int = 0
    duplicates: int = 0
    rejected: int = 0  # proposals that broke a relation, never run
    backtests: int = 0
    backtest_seconds: float = 0.0  # time workers spent in trials
    backtest_cpu_seconds: float = 0.0  # CPU workers spent on them (the trials' cpu_s)
    started: float = field(default_factory=time.monotonic)
    best: float | None = None  # the study's best feasible value so far, earlier runs' included (one objective)
    best_params: dict | None = None  # its params, on their steps
    held_worker_seconds: float = 0.0  # worker time left idle while a proposal waited for an older trial
    errors: list[str] = field(default_factory=list)
    fallbacks: TurboFallbacks = field(default_factory=TurboFallbacks)  # this run's trials
    workers: int = 1

    def offer(self, value: float, params: dict, maximize: bool) -> None:
        """Keep ``value`` (and its ``params``) as the best if it beats the best so far."""
        if self.best is None or (value > self.best if maximize else value < self.best):
            self.best, self.best_params = value, params

    @property
    def held_share(self) -> float:
        """The share of the workers' time idle because a model's proposal waited for an older
        trial (the cost of reproducible proposals)."""
        elapsed = time.monotonic() - self.started
        return self.held_worker_seconds / (self.workers * elapsed) if elapsed > 0 else 0.0


@dataclass
class _Asked:
    """A model's proposal, from when it is asked for until the model is told its outcome."""

    index: int  # its place among the run's proposals
    handle: optuna.Trial
    params: dict
    outcome: tuple[list[float] | None, dict, dict] | None = None  # values, attrs, constraints
    twin_of: _Asked | None = None  # an earlier proposal in flight with the same params
    duplicate_of: int | None = None  # the study's number of the trial whose result it repeats
    number: int | None = None  # its number in the study, once recorded


class Optimizer:
    """Runs ``n_trials`` more trials of one study on a pool."""

    def __init__(self, study: optuna.Study, spec: StudySpec, pool: Pool, windows: dict | None = None, first=()):
        """``windows``: pair -> (start, end) each trial is backtested on (default: the spec's window);
        ``first``: points (all or some of the space's params) the model is asked to run before
        it draws its own, those the study already ran left out (optuna's ``enqueue_trial``)."""
        self.study, self.spec, self.pool, self.windows = study, spec, pool, windows
        self.space = list(spec.space)
        self.model = (optuna.create_study(directions=[o.direction for o in spec.objectives],
                                          sampler=make_sampler(spec.sampler, spec.seed))
                      if spec.sampler in ("tpe", "nsga2") else None)
        self.lag = LAG_PER_WORKER * pool.size
        self._in_flight: dict[int, object] = {}  # pool trial number -> _Asked, or (draw index, params)
        self._asked: collections.deque[_Asked] = collections.deque()  # the model's, untold, in order
        self._untold: dict[str, _Asked] = {}  # params -> the untold proposal that runs them
        self._waiting: dict[str, list[tuple[int, dict]]] = {}  # random points whose twin is in flight
        # params -> (values, attrs, constraints, number) of the trial that ran them
        self._known: dict[str, tuple[list[float], dict, dict, int | None]] = {}
        self._mirrored: set[int] = set()  # numbers of the study's trials the model and _known hold
        self._synced = 0.0
        self._sync()
        drawn = {t.user_attrs["draw_index"] for t in study.get_trials(deepcopy=False) if "draw_index" in t.user_attrs}
        highest = max(drawn, default=-1)
        # Points a stopped run drew but never finished come first, then new ones.
        self._indices = itertools.chain((i for i in range(highest) if i not in drawn), itertools.count(highest + 1))
        self._grid = [p for p in grid_points(self.space) if spec.allows(p)] if spec.sampler == "grid" else None
        self._first = collections.deque(p for p in first if params_key(p) not in self._known)
        self._warm: set[int] = set()  # the model's numbers of the trials run from ``first``

    def _sync(self) -> None:
        """Read the trials finished in the study since the last sync (earlier runs', other drivers')
        into the model and the duplicate check."""
        self._synced = time.monotonic()
        for trial in self.study.get_trials(deepcopy=False, states=_FINISHED):
            if trial.number in self._mirrored:
                continue
            self._mirrored.add(trial.number)
            if trial.state == TrialState.COMPLETE:
                self._known.setdefault(params_key(trial.params),
                                       (trial.values, trial.user_attrs, trial.constraints, trial.number))
                if self.model is not None:  # what it models, not the attributes (see _record)
                    light = copy.copy(trial)
                    light.user_attrs = {}
                    self.model.add_trial(light)

    # -- proposing ----------------------------------------------------------------------------
    def _propose(self, progress: Progress) -> tuple[object, dict] | None:
        """The next point to run, with its model trial or draw index; None when the grid is done."""
        for _ in range(MAX_REJECTED):
            proposal = self._draw()
            if proposal is None or self.spec.allows(proposal[1]):
                return proposal
            progress.rejected += 1
            if self.model is not None:
                self.model.tell(proposal[0], state=TrialState.FAIL)
        raise ConfigError(f"{MAX_REJECTED} proposals in a row broke the space's relations "
                          f"({', '.join(r.text for r in self.spec.relations)}): widen the space or drop a relation")

    def _draw(self) -> tuple[object, dict] | None:
        if self.model is not None:
            warm = bool(self._first)
            if warm:
                self.model.enqueue_trial(self._first.popleft())  # the next ask takes it
            trial = self.model.ask()
            if warm:
                self._warm.add(trial.number)
            return trial, suggest(self.space, trial)
        index = next(self._indices)
        if self._grid is not None:
            if index >= len(self._grid):
                return None
            return index, self._grid[index]
        return index, draw(self.space, self.spec.seed, index)

    def _may_ask(self, index: int) -> bool:
        """Whether the model may be asked for proposal ``index``: every proposal up to
        ``index - lag`` is told (see the module)."""
        return not self._asked or self._asked[0].index > index - self.lag

    # -- recording ----------------------------------------------------------------------------
    def _record(self, handle, params: dict, values: list[float] | None, attrs: dict, constraints: dict,
                progress: Progress) -> int:
        """Record a finished trial in the study (and the model); its number in the study."""
        if values is None:
            progress.failed += 1
            progress.errors.append(attrs.get("error", "?"))
        if attrs.get("duplicate"):
            progress.duplicates += 1
        state = TrialState.COMPLETE if values is not None else TrialState.FAIL
        if isinstance(handle, optuna.Trial):
            for key, value in constraints.items():
                handle.set_constraint(key, value)
            # The model is told what it models; the attributes (metrics, configs, PnL series) go
            # to the study only, so the model's copies of a trial stay small.
            frozen = self.model.tell(handle, values, state=state)
            frozen.user_attrs = dict(attrs)
        else:
            frozen = optuna.trial.create_trial(params=params, distributions=distributions(self.space, params),
                                               values=values, state=state, user_attrs={**attrs, "draw_index": handle})
            for key, value in constraints.items():
                frozen.set_constraint(key, value)
        number = self._store(frozen)
        progress.done += 1
        progress.fallbacks.add(attrs)
        if values is not None and not attrs.get("constraints_violated"):
            self._offer_best(values, params, progress)
        return number

    def _offer_best(self, values: list[float], params: dict, progress: Progress) -> None:
        if not self.spec.multi_objective:
            progress.offer(values[0], on_steps(self.space, params), self.spec.objectives[0].direction == "maximize")

    def _store(self, frozen: optuna.trial.FrozenTrial) -> int:
        """Write a finished trial to the study's storage in one record; its number there."""
        storage = self.study._storage  # as optuna's own samplers reach it: Study.add_trial returns no number
        number = storage.get_trial_number_from_id(storage.create_new_trial(self.study._study_id, template_trial=frozen))
        self._mirrored.add(number)
        return number

    def _outcome(self, outcome: Outcome, progress: Progress) -> tuple[list[float] | None, dict, dict]:
        """A pool outcome as the trial's (values or None, user attributes, constraints)."""
        progress.backtest_seconds += outcome.seconds
        progress.backtest_cpu_seconds += outcome.cpu_s
        attrs = {"seconds": round(outcome.seconds, 3), "cpu_s": round(outcome.cpu_s, 4), "worker": outcome.worker}
        if outcome.error:
            return None, {**attrs, "error": outcome.error}, {}
        progress.backtests += len(outcome.results)
        constraints = self.spec.violations(outcome.results)
        attrs.update(self._result_attrs(outcome.results, constraints))
        try:
            return self.spec.score(outcome.results), attrs, constraints
        except ValueError as exc:
            return None, {**attrs, "error": str(exc)}, {}

    def _finish(self, outcome: Outcome, progress: Progress) -> None:
        entry = self._in_flight.pop(outcome.trial.number)
        result = self._outcome(outcome, progress)
        if isinstance(entry, _Asked):  # told in order, by _tell_in_order
            entry.outcome = result
            return
        index, params = entry
        values, attrs, constraints = result
        number = self._record(index, params, values, attrs, constraints, progress)
        key = params_key(params)
        for twin_index, twin_params in self._waiting.pop(key, []):
            self._record(twin_index, twin_params, values, _as_duplicate(attrs, number), constraints, progress)
        if values is not None:
            self._known.setdefault(key, (values, attrs, constraints, number))

    def _tell_in_order(self, up_to: float, progress: Progress) -> None:
        """Tell the model, oldest first, every finished proposal up to index ``up_to``, stopping
        at the first one still running."""
        while self._asked and self._asked[0].index <= up_to:
            entry = self._asked[0]
            source = entry.twin_of or entry
            if source.outcome is None:
                return
            self._asked.popleft()
            self._tell(entry, *source.outcome, progress)

    def _tell(self, entry: _Asked, values, attrs: dict, constraints: dict, progress: Progress) -> None:
        key = params_key(entry.params)
        if entry.twin_of is not None:
            attrs = _as_duplicate(attrs, entry.twin_of.number)
        if entry.handle.number in self._warm:
            attrs = {**attrs, "warm_start": True}
        entry.number = self._record(entry.handle, entry.params, values, attrs, constraints, progress)
        if entry.twin_of is None and entry.duplicate_of is None:
            self._untold.pop(key, None)
            if values is not None:
                self._known.setdefault(key, (values, attrs, constraints, entry.number))

    def _result_attrs(self, results: list[dict], constraints: dict) -> dict:
        """A completed trial's user attributes: per-pair metrics (Hummingbot's summary and the
        ``account``), configs, windows and the account's PnL per period (``pnl``: ``{"period": s,
        "values": [per pair]}``), whether it breaks a constraint, and the distinct warnings of its
        backtests (``PAIR: ...`` with several pairs)."""
        metrics = [{k: r.get(k) for k in SUMMARY_FIELDS} | {"account": r["account"], "turbo_fallback": r.get("turbo_fallback")}
                   for r in results]
        pairs = self.spec.pairs
        warnings = [f"{pair}: {w}" if len(pairs) > 1 else w for pair, r in zip(pairs, results) for w in r["warnings"]]
        return {"pairs": list(pairs), "metrics": metrics, "configs": [r["config"] for r in results],
                "window": [{"start": r["start"], "end": r["end"]} for r in results],
                "pnl": {"period": results[0]["pnl"]["period"], "values": [r["pnl"]["values"] for r in results]},
                "engine": results[0]["engine"], "constraints_violated": any(v > 0 for v in constraints.values()),
                "warnings": list(dict.fromkeys(warnings))}

    # -- the loop -----------------------------------------------------------------------------
    def run(self, n_trials: int, on_progress: Callable[[Progress], None] = lambda p: None) -> Progress:
        """Run ``n_trials`` more trials; on any exit (Ctrl-C included) finished trials are
        recorded and those still in flight are recorded as failed."""
        progress = Progress(target=n_trials, workers=self.pool.size)
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):  # the study's best so far
            if not trial.user_attrs.get("constraints_violated"):
                self._offer_best(trial.values, trial.params, progress)
        issued = 0
        try:
            while progress.done < progress.target:
                held = False
                while issued < progress.target and self.pool.idle_capacity > 0:
                    if self.model is not None:
                        self._tell_in_order(issued - self.lag, progress)
                        if not self._may_ask(issued):
                            held = True
                            break
                    proposal = self._propose(progress)
                    if proposal is None:  # the grid is exhausted
                        progress.target = issued
                        break
                    self._submit(issued, *proposal, progress)
                    issued += 1
                    progress.issued = issued
                if issued >= progress.target:
                    self._tell_in_order(math.inf, progress)
                idle = max(0, self.pool.size - self.pool.pending) if held else 0
                polled = time.monotonic()
                for outcome in self.pool.poll(0.2):
                    self._finish(outcome, progress)
                progress.held_worker_seconds += idle * (time.monotonic() - polled)
                if time.monotonic() - self._synced > SYNC_SECONDS:
                    self._sync()
                on_progress(progress)
        finally:
            self._end("interrupted: the run stopped before this trial finished", progress)
        return progress

    def _submit(self, index: int, handle, params: dict, progress: Progress) -> None:
        key = params_key(params)
        if isinstance(handle, optuna.Trial):
            entry = _Asked(index, handle, params)
            self._asked.append(entry)
            if key in self._known:
                values, attrs, constraints, number = self._known[key]
                entry.outcome, entry.duplicate_of = (list(values), _as_duplicate(attrs, number), constraints), number
            elif key in self._untold:
                entry.twin_of = self._untold[key]
            else:
                self._untold[key] = entry
                self._in_flight[handle.number] = entry
                self.pool.submit([Trial(handle.number, self.spec.backtests(params, self.windows))])
            return
        if key in self._known:
            values, attrs, constraints, number = self._known[key]
            self._record(handle, params, list(values), _as_duplicate(attrs, number), constraints, progress)
        elif any(params_key(p) == key for _, p in self._in_flight.values()):
            self._waiting.setdefault(key, []).append((handle, params))
        else:
            self._in_flight[handle] = (handle, params)
            self.pool.submit([Trial(handle, self.spec.backtests(params, self.windows))])

    def _end(self, reason: str, progress: Progress) -> None:
        """Record, in order, the model's finished proposals, and its unfinished ones as failed with
        ``reason`` (random and grid points left unfinished are drawn again by the next run)."""
        for entry in self._asked:
            source = entry.twin_of or entry
            if source.outcome is None:
                source.outcome = (None, {"error": reason}, {})
            self._tell(entry, *source.outcome, progress)
        self._asked.clear()
        self._in_flight.clear()
        self._waiting.clear()


def _as_duplicate(attrs: dict, number: int | None) -> dict:
    """The user attributes of a trial that repeats trial ``number``'s parameters and result."""
    return {k: v for k, v in attrs.items() if k != "draw_index"} | {"duplicate": True, "duplicate_of": number}
