"""Searching and validating studies: what ``hbopt discover`` and ``hbopt validate`` do.

``discover`` keeps each study's holdout out of the search (the trials run on the in-sample
windows only), then validates the study's best on the same pool. The windows are fixed when a
study is created and recorded in its manifest, so a resumed study keeps its holdout unseen.
The validation is written to ``validation.json`` in the study folder and into its report.
"""
from __future__ import annotations

import json
import shutil
import warnings
from contextlib import contextmanager
from dataclasses import replace
from typing import Callable

import optuna

from hbopt.files import read_json, write_text_atomic
from hbopt.engine.pool import Pool, WorkerSetup, check_trial_timeout, make_pool
from hbopt.errors import ConfigError, DataError, HboptError
from hbopt.search.optimize import Progress
from hbopt.search.report import write_report
from hbopt.search.spec import StudySpec, build_spec
from hbopt.search.storage import StudyFolder, open_storage
from hbopt.search.studies import UNRECORDED, objective_note, open_study, run_trials, study_names, summary
from hbopt.validate.checks import Thresholds, validate_study
from hbopt.validate.report import validation_sections
from hbopt.validate.windows import study_windows


@contextmanager
def open_pool(workers: int | None, controllers_path=None, trial_timeout: float | None = None,
              max_worker_mb: float | None = None, backend: str = "local", address: str | None = None):
    """A backtest pool on ``backend`` over a fresh mirror (local workers memory-map it; Ray's are
    sent the candles they need)."""
    from hbopt.cache.mirror import Mirror

    check_trial_timeout(trial_timeout)  # before the mirror is touched
    Mirror.default().refresh()
    setup = WorkerSetup(controllers_path=str(controllers_path) if controllers_path else None, max_rss_mb=max_worker_mb)
    with make_pool(backend, workers, setup, trial_timeout=trial_timeout, address=address) as pool:
        yield pool


def validation_path(folder: StudyFolder):
    return folder.path / "validation.json"


def load_validation(folder: StudyFolder) -> dict | None:
    return read_json(validation_path(folder), f"study {folder.name}: its validation",
                     f"; 'hbopt validate {folder.name}' writes it again")


def windows_of(folder: StudyFolder, spec: StudySpec, user_module: str | None) -> dict:
    """The study's windows: those its manifest recorded, else planned now (a new study)."""
    recorded = folder.manifest().get("windows") if folder.exists() else None
    return recorded or study_windows(spec, user_module)


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
    under other costs."""
    from hbopt.validate.walkforward import load_walkforward

    _check_in_sample(study, spec, windows)
    validation = validate_study(spec, study, windows, pool, thresholds, top, load_walkforward(folder.name),
                                important_params(study) if full and len(spec.objectives) == 1 else [], full)
    validation["study"] = folder.name
    validation["costs"], validation["searched_costs"] = spec.costs.as_dict(), (searched or spec).costs.as_dict()
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


@contextmanager
def _made_for_the_study(folder: StudyFolder):
    """The study's folder, made for a run; removed again if the run made it and failed before the
    study existed (its windows could not be planned, say), so a refused run leaves nothing behind."""
    made = not folder.path.exists()
    folder.make()
    try:
        yield
    except BaseException:
        if made and not folder.exists():
            shutil.rmtree(folder.path, ignore_errors=True)
        raise


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


def discover(spec: StudySpec, n_trials: int, pool: Pool, study_name: str | None = None,
             storage_url: str | None = None, user_module: str | None = None, report: bool = True,
             validate: bool = True, thresholds: Thresholds = Thresholds(), top: int = 10,
             on_windows: Callable[[str, dict], None] = lambda name, windows: None,
             on_progress: Callable[[str, Progress, Pool], None] = lambda name, p, pool: None,
             on_stage: Callable[[str], None] = lambda message: None) -> list[dict]:
    """Run ``n_trials`` more trials of each study ``spec`` makes, on the in-sample windows, then
    run the top trials on the holdout and (``validate``) validate each. Returns a summary per study, with ``windows``, ``validation``
    and ``warnings`` (what was repaired on the way: a torn journal line)."""
    if storage_url:
        open_storage(storage_url)  # a bad URL is refused before any study folder exists
    summaries = []
    for name, study_spec in study_names(spec, study_name):
        folder = StudyFolder(name)
        with _made_for_the_study(folder), folder.lock(storage_url):
            warnings_ = folder.repair_journal()
            planned = []

            def plan(spec=study_spec):
                planned.append(study_windows(spec, user_module))
                return planned[0]
            study, windows, study_spec = open_study(folder, study_spec, storage_url, user_module, plan)
            warnings_ += objective_note(name, study_spec)
            if not planned and study_spec.start is None:  # a resumed study of "the last N days"
                warnings_ += newer_data_note(name, windows, plan())
            on_windows(name, windows)
            in_sample = {pair: tuple(w["in_sample"]) for pair, w in windows.items()}
            progress = run_trials(folder, study, study_spec, pool, n_trials, in_sample,
                                  lambda p: on_progress(name, p, pool))
            validation = None
            if validate or any(w.get("holdout") for w in windows.values()):
                on_stage(f"{name}: " + ("validating the best (holdout, neighbourhood, cost stress)" if validate
                                        else f"running the top {top} trials on the holdout"))
                validation = validate_folder(folder, study, study_spec, windows, pool, thresholds, top, report,
                                             full=validate)
            elif report:
                write_report(folder, study, study_spec)
            summaries.append({**summary(folder, study, progress, top), "windows": windows,
                              "validation": validation, "warnings": warnings_})
    return summaries


def validate(name: str, pool_args: dict, user_module: str | None, thresholds: Thresholds, top: int,
             costs: dict | None = None, on_stage: Callable[[str], None] = lambda message: None) -> dict:
    """Validate a stored study again (e.g. with other thresholds, after a walk-forward, or with
    ``costs`` over the study's own for the runs the validation makes)."""
    folder = StudyFolder(name)
    searched = spec_of(folder, user_module)
    spec = replace(searched, costs=replace(searched.costs, **costs)) if costs else searched
    with folder.lock():
        study = folder.load()
        windows = windows_of(folder, spec, user_module)
        with open_pool(**pool_args) as pool:
            on_stage(f"{name}: validating the best (holdout, neighbourhood, cost stress)")
            return validate_folder(folder, study, spec, windows, pool, thresholds, top, report=True, searched=searched)
