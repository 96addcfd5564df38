"""Searching and validating studies: what ``hbopt discover`` and ``hbopt validate`` do.

``discover`` keeps each study's holdout out of the search (the trials run on the in-sample
windows only), then validates the study's best on the same pool. The windows are fixed when a
study is created and recorded in its manifest, so a resumed study keeps its holdout unseen.
The validation is written to ``validation.json`` in the study folder and into its report.
"""
from __future__ import annotations

import json
import shutil
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable

import optuna

from hbopt.files import read_json, write_text_atomic
from hbopt.engine.backtest import mirrored_candles
from hbopt.engine.lanes import Lanes
from hbopt.engine.pool import Pool, WorkerSetup, check_trial_timeout, make_pool
from hbopt.errors import ConfigError, DataError, HboptError
from hbopt.search.optimize import Progress
from hbopt.search.report import write_report
from hbopt.search.spec import StudySpec, build_spec
from hbopt.search.storage import StudyFolder, open_storage
from hbopt.search.studies import (
    UNRECORDED,
    objective_note,
    open_study,
    recorded_study,
    run_trials,
    study_names,
    summary,
)
from hbopt.validation.checks import Thresholds, validate_study
from hbopt.validation.report import validation_sections
from hbopt.validation.windows import study_windows

WARM_TRIALS = 10  # the old study's best trials a --warm-start runs first


@contextmanager
def open_pool(workers: int | None, controllers_path=None, trial_timeout: float | None = None,
              max_worker_mb: float | None = None, backend: str = "local", address: str | None = None,
              candles=None):
    """A backtest pool on ``backend`` over a fresh mirror (local workers memory-map it; Ray's are
    sent the candles they need): ``candles``, the run's (:func:`mirrored_candles`), says the
    command refreshed it already; None: it is refreshed now."""
    check_trial_timeout(trial_timeout)  # before the mirror is touched
    if candles is None:
        mirrored_candles()
    setup = WorkerSetup(controllers_path=str(controllers_path) if controllers_path else None, max_rss_mb=max_worker_mb)
    with make_pool(backend, workers, setup, trial_timeout=trial_timeout, address=address) as pool:
        yield pool


def validation_path(folder: StudyFolder):
    return folder.path / "validation.json"


def load_validation(folder: StudyFolder) -> dict | None:
    return read_json(validation_path(folder), f"study {folder.name}: its validation",
                     f"; 'hbopt validate {folder.name}' writes it again")


def windows_of(folder: StudyFolder, spec: StudySpec, user_module: str | None, candles) -> dict:
    """The study's windows: those its manifest recorded, else planned now on ``candles`` (a new study)."""
    recorded = folder.manifest().get("windows") if folder.exists() else None
    return recorded or study_windows(spec, user_module, candles)


def spec_of(folder: StudyFolder, user_module: str | None) -> StudySpec:
    """The spec a study was created with, from its manifest."""
    from hbopt.cache.store import CandleStore
    from hbopt.engine.controllers import config_class, controller_type_of

    raw = {**UNRECORDED, **{k: v for k, v in folder.manifest()["spec"].items() if k != "controller_type"}}
    # a controller not found here (a --controllers-path left out) is the command's fault, not the file's
    config_class(controller_type_of(raw["controller"], user_module), raw["controller"], user_module)
    try:
        return build_spec(raw, {}, user_module, CandleStore().pairs)
    except ConfigError as exc:
        raise DataError(f"study {folder.name}: the spec in its manifest {folder.manifest_path} is invalid "
                        f"({exc})") from None


def important_params(study: optuna.Study) -> list[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(optuna.importance.get_param_importances(study))
    except Exception:  # too few trials or one distinct value: no ranking
        return []


def validate_folder(folder: StudyFolder, study: optuna.Study, spec: StudySpec, windows: dict, pool: Pool,
                    thresholds: Thresholds, top: int, report: bool, full: bool = True,
                    searched: StudySpec | None = None) -> dict:
    """Validate a study (under its lock; not ``full``: only run its top trials on the holdout),
    save ``validation.json`` and rewrite the report; ``spec`` is the study's, or ``searched``'s
    under other costs or fixed fields."""
    from hbopt.validation.walkforward import load_walkforward

    _check_in_sample(study, spec, windows)
    validation = validate_study(spec, study, windows, pool, thresholds, top, load_walkforward(folder.name),
                                important_params(study) if full and len(spec.objectives) == 1 else [], full)
    validation["study"] = folder.name
    validation["costs"], validation["searched_costs"] = spec.costs.as_dict(), (searched or spec).costs.as_dict()
    if searched and searched.fixed != spec.fixed:  # validated with fields set over the study's (--set)
        validation["fixed"], validation["searched_fixed"] = spec.fixed, searched.fixed
    ledgers = validation.pop("ledgers", {})
    write_ledgers(folder, ledgers)
    write_text_atomic(validation_path(folder), json.dumps(validation, default=str))
    if report:
        write_report(folder, study, spec, validation_sections(validation, spec, ledgers))
    return validation


def write_ledgers(folder: StudyFolder, ledgers: dict) -> None:
    """Each top trial's ledger per pair and window, as ``ledgers/trial-N_PAIR_WINDOW.json`` in the
    study folder (those of trials no longer at the top are removed)."""
    from hbopt.files import home_folder

    target = home_folder(folder.path / "ledgers", "study ledgers folder")
    names = {f"trial-{number}_{pair}_{window}.json": ledger for (number, pair, window), ledger in ledgers.items()}
    for stale in target.glob("trial-*.json"):
        if stale.name not in names:
            stale.unlink()
    for name, ledger in names.items():
        write_text_atomic(target / name, json.dumps(ledger))


def _check_in_sample(study: optuna.Study, spec: StudySpec, windows: dict) -> None:
    """No trial the search scored may have run past its pair's in-sample window."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        for pair, window in zip(trial.user_attrs.get("pairs", spec.pairs), trial.user_attrs.get("window", [])):
            if pair in windows and window["end"] > windows[pair]["in_sample"][1]:
                raise HboptError(f"trial {trial.number} ran on {pair} up to {window['end']}, after its in-sample "
                                 f"window ends ({windows[pair]['in_sample'][1]})")


def newer_data_note(name: str, windows: dict, now: dict) -> list[str]:
    """What to say of a study whose windows, pinned when it was created, end before the data the
    store holds now (``now``: the windows a new study would plan)."""
    from hbopt.engine.market_data import utc

    newer = {pair: now[pair]["window"][1] for pair, w in windows.items()
             if pair in now and "window" in w and now[pair]["window"][1] > w["window"][1]}
    if not newer:
        return []
    pair, end = max(newer.items(), key=lambda kv: kv[1])
    behind = (end - windows[pair]["window"][1]) / 86400
    return [f"study {name} searches its window as created, to {utc(windows[pair]['window'][1])}; the store now holds "
            f"data to {utc(end)} ({behind:.3g} d past it): a new study name searches the current window"]


@dataclass(frozen=True)
class StudyPlan:
    """A study a discover run will search, with everything that could refuse the run checked."""

    name: str
    spec: StudySpec
    windows: dict
    new: bool  # the study does not exist yet
    warm_points: tuple[dict, ...] = ()  # points the model is asked to run first (--warm-start)
    warnings: tuple[str, ...] = ()


def plan_studies(spec: StudySpec, study_name: str | None = None, storage_url: str | None = None,
                 user_module: str | None = None, warm_start: str | None = None,
                 warm_trials: int = WARM_TRIALS, candles=None) -> list[StudyPlan]:
    """Every check a discover run can fail before its first trial, for each study ``spec``
    makes, with nothing written (no study, no folder, no worker): the storage URL; a resumed
    study's spec against the one it recorded; for a new study, its windows planned on the data
    (coverage of the window and of the warm-up a trial may need, on every pair); the study to
    warm-start from (:func:`warm_points`). Windows are planned on ``candles``, the run's
    (:func:`mirrored_candles`; None: the mirror's, refreshed now, once for every study)."""
    if storage_url:
        open_storage(storage_url)
    candles = candles or mirrored_candles()
    plans = []
    for name, study_spec in study_names(spec, study_name):
        folder = StudyFolder(name)
        study_spec, windows = recorded_study(folder, study_spec, storage_url)
        notes = objective_note(name, study_spec)
        warm = warm_points(warm_start, name, study_spec, warm_trials) if warm_start else ()
        new = windows is None
        if new:
            windows = study_windows(study_spec, user_module, candles)
        elif study_spec.start is None:  # a resumed study of "the last N days"
            notes += newer_data_note(name, windows, study_windows(study_spec, user_module, candles))
        plans.append(StudyPlan(name, study_spec, windows, new, tuple(warm), tuple(notes)))
    return plans


def warm_points(old: str, name: str, spec: StudySpec, count: int) -> list[dict]:
    """The params of the best ``count`` trials of study ``old`` (or of ``old_PAIR``, the same
    pair's study of a per-pair run named ``old``) for study ``name``: each value the new space can
    draw, the others left to the sampler. A ConfigError when ``old`` is missing, optimised another
    controller or has nothing ranked, or when the sampler cannot be warm-started."""
    from hbopt.search.studies import require_ranked

    if spec.sampler not in ("tpe", "nsga2"):
        raise ConfigError(f"--warm-start needs a model sampler (tpe or nsga2), not {spec.sampler}: random and grid "
                          "search learn nothing from earlier trials")
    candidates = [old] + ([f"{old}_{spec.pairs[0]}"] if len(spec.pairs) == 1 else [])
    source = next((StudyFolder(c) for c in candidates if StudyFolder(c).exists()), None)
    if source is None:
        raise ConfigError(f"--warm-start: no study named {' or '.join(map(repr, candidates))}")
    if source.name == name:
        raise ConfigError(f"--warm-start {source.name}: a study cannot warm-start itself")
    controller = source.manifest()["spec"]["controller"]
    if controller != spec.controller:
        raise ConfigError(f"--warm-start: study {source.name} optimised {controller}, not {spec.controller}")
    by_name = {p.name: p for p in spec.space}
    points = []
    for trial in require_ranked(source.name, source.load())[:count]:
        point = {k: by_name[k].rounded(v) for k, v in trial.params.items()
                 if k in by_name and by_name[k].contains(by_name[k].rounded(v))}
        if point and point not in points:
            points.append(point)
    return points


def discover(spec: StudySpec, n_trials: int, pool: Pool, study_name: str | None = None,
             storage_url: str | None = None, user_module: str | None = None, report: bool = True,
             validate: bool = True, thresholds: Thresholds = Thresholds(), top: int = 10,
             plans: list[StudyPlan] | None = None,
             on_windows: Callable[[str, dict], None] = lambda name, windows: None,
             on_progress: Callable[[str, Progress, Pool], None] = lambda name, p, pool: None,
             on_stage: Callable[[str], None] = lambda message: None) -> list[dict]:
    """Run ``n_trials`` more trials of each study ``spec`` makes (``plans``, from
    :func:`plan_studies`: planned now if not given), on the in-sample windows, then run the top
    trials on the holdout and (``validate``) validate each. Returns a summary per study, with
    ``windows``, ``validation`` and ``warnings`` (what was repaired on the way: a torn journal
    line; what the plan noted). A new study whose run ends without one completed trial is removed
    again, so that the corrected command can create it afresh."""
    plans = plans if plans is not None else plan_studies(spec, study_name, storage_url, user_module)

    def one(planned: StudyPlan, lane: Pool, on_progress_) -> dict:
        folder = StudyFolder(planned.name)
        made = not folder.path.exists()
        folder.make()
        try:
            with folder.lock(storage_url):
                try:
                    return _search(folder, planned, n_trials, lane, storage_url, user_module, report, validate,
                                   thresholds, top, on_windows, on_progress_, on_stage)
                except BaseException:
                    if planned.new:
                        _forget_if_empty(folder, storage_url)
                    raise
        except BaseException:
            if made and not folder.exists():
                shutil.rmtree(folder.path, ignore_errors=True)
            raise
    return overlapped(plans, one, pool, on_progress)


def overlapped(plans: list, run_one: Callable, pool: Pool, on_progress: Callable) -> list:
    """``run_one(plan, lane, on_progress)`` for each plan, each in its own thread on its own lane
    of ``pool`` (:mod:`hbopt.engine.lanes`): a plan starts once the one before it has handed the
    pool all its trials (or ended), so a study's last trials run beside the next one's first and
    the workers never wait for a study to drain. Returns the results in the plans' order. The
    first error (by plan order) is raised once every started plan has ended, and no plan starts
    after one; Ctrl-C stops every plan as it stops one."""
    lanes = Lanes(pool)
    results: dict[int, object] = {}
    errors: dict[int, BaseException] = {}
    threads = []

    def start(index: int, planned) -> threading.Event:
        handed_over = threading.Event()

        def progressed(name, progress, lane):
            if progress.issued >= progress.target:
                handed_over.set()
            on_progress(name, progress, lane)

        def body():
            lane = lanes.lane()
            try:
                results[index] = run_one(planned, lane, progressed)
            except BaseException as exc:
                errors[index] = exc
            finally:
                lane.close()
                handed_over.set()
        thread = threading.Thread(target=body, name=f"study-{index}", daemon=True)
        threads.append(thread)
        thread.start()
        return handed_over

    try:
        for index, planned in enumerate(plans):
            if errors:
                break
            handed_over = start(index, planned)
            while not handed_over.wait(0.05):
                pass
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)
    except KeyboardInterrupt:
        lanes.stop()
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[min(errors)]
    return [results[i] for i in range(len(plans))]


def _search(folder: StudyFolder, planned: StudyPlan, n_trials: int, pool: Pool, storage_url, user_module, report,
            validate, thresholds, top, on_windows, on_progress, on_stage) -> dict:
    """One study of :func:`discover`, under its lock."""
    name = planned.name
    warnings_ = folder.repair_journal() + list(planned.warnings)
    study, windows, spec = open_study(folder, planned.spec, storage_url, user_module, lambda: planned.windows)
    on_windows(name, windows)
    in_sample = {pair: tuple(w["in_sample"]) for pair, w in windows.items()}
    progress = run_trials(folder, study, spec, pool, n_trials, in_sample, lambda p: on_progress(name, p, pool),
                          first=planned.warm_points)
    validation = None
    if validate or any(w.get("holdout") for w in windows.values()):
        on_stage(f"{name}: " + ("validating the best (holdout, neighbourhood, cost stress)" if validate
                                else f"running the top {top} trials on the holdout"))
        validation = validate_folder(folder, study, spec, windows, pool, thresholds, top, report, full=validate)
    elif report:
        write_report(folder, study, spec)
    return {**summary(folder, study, progress, top), "windows": windows, "validation": validation,
            "warnings": warnings_}


def _forget_if_empty(folder: StudyFolder, storage_url: str | None) -> None:
    """Remove a study this run created if it holds no completed trial (under its lock): its
    records in a database storage, and every file of its folder but the lock."""
    if not folder.exists():
        return
    storage, url = folder.storage(storage_url)
    try:
        study = optuna.load_study(study_name=folder.name, storage=storage)
    except KeyError:
        study = None
    if study is not None and study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return
    if study is not None and url:
        optuna.delete_study(study_name=folder.name, storage=storage)
    for child in folder.path.iterdir():
        if child.name != ".lock":
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def validate(name: str, pool_args: dict, user_module: str | None, thresholds: Thresholds, top: int,
             costs: dict | None = None, sets: dict | None = None,
             on_stage: Callable[[str], None] = lambda message: None) -> dict:
    """Validate a stored study again (e.g. with other thresholds, after a walk-forward, or with
    ``costs`` over the study's own, or config fields ``sets`` over its fixed ones, for the runs
    the validation makes)."""
    from hbopt.search.spec import with_fixed

    folder = StudyFolder(name)
    searched = spec_of(folder, user_module)
    spec = replace(searched, costs=replace(searched.costs, **costs)) if costs else searched
    spec = with_fixed(spec, sets, user_module)
    candles = mirrored_candles()  # the run's: the mirror refreshed once
    with folder.lock():
        study = folder.load()
        windows = windows_of(folder, spec, user_module, candles)
        with open_pool(**pool_args, candles=candles) as pool:
            on_stage(f"{name}: validating the best (holdout, neighbourhood, cost stress)")
            return validate_folder(folder, study, spec, windows, pool, thresholds, top, report=True, searched=searched)
