"""Running and reading studies: what ``hbopt discover`` and ``hbopt study`` do."""
from __future__ import annotations

import csv
import io
import itertools
import json
import os
import shutil
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Callable

import optuna
from optuna.trial import TrialState

from hbopt.files import atomic_path
from hbopt.engine.exchange.costs import DEFAULT_SLIPPAGE_BPS
from hbopt.engine.pool import Pool
from hbopt.errors import ConfigError, DataError, HboptError, from_description
from hbopt.search.optimize import Optimizer, Progress, TurboFallbacks
from hbopt.search.space import on_steps, parse_space
from hbopt.search.spec import Objective, StudySpec
from hbopt.search.storage import (
    SHARED,
    StudyFolder,
    controller_source_hash,
    journal_record,
    list_study_names,
    manifest_problem,
    new_manifest,
    open_storage,
    versions,
)


def study_names(spec: StudySpec, name: str | None) -> list[tuple[str, StudySpec]]:
    """One study per pair (named ``NAME_PAIR`` when several), or one across all pairs."""
    if spec.across_pairs or len(spec.pairs) == 1:
        default = f"{spec.controller}_{spec.connector}_{'_'.join(spec.pairs) if len(spec.pairs) < 4 else 'pairs'}"
        return [(name or default, spec)]
    return [(f"{name or spec.controller + '_' + spec.connector}_{pair}", spec.with_pairs([pair])) for pair in spec.pairs]


_AGREED = ("controller", "connector", "pairs", "space", "relations", "objective", "constraints", "window", "resolution",
           "trade_cost", "costs", "across_pairs", "fixed", "feature_timing", "holdout")  # what a resumed study must keep
# what a study recorded before a setting existed ran with
UNRECORDED = {"feature_timing": "close", "holdout": 0, "relations": [],
              "costs": {"model": "hummingbot", "maker_fee": None, "taker_fee": None, "slippage_bps": DEFAULT_SLIPPAGE_BPS}}


def recorded_study(folder: StudyFolder, spec: StudySpec, storage_url: str | None) -> tuple[StudySpec, dict | None]:
    """What a study already records, checked against ``spec`` without writing anything: ``spec``
    (with the recorded objectives if it asked for none) and the recorded windows (the manifest's,
    else the shared study's; None for a study that does not exist yet). A different spec is a
    ConfigError."""
    manifest = folder.manifest() if folder.exists() else None
    url = folder.storage_url(storage_url)
    shared = _shared_record(open_storage(url), folder.name) if url else None
    for recorded in (manifest or {}).get("spec"), (shared or {}).get("spec"):
        if recorded:
            spec = _kept_objective(folder.name, recorded, spec)
            _refuse_changes(folder.name, recorded, spec.to_dict())
    return spec, (manifest or {}).get("windows") or (shared or {}).get("windows")


def open_study(folder: StudyFolder, spec: StudySpec, storage_url: str | None, user_module: str | None,
               plan_windows: Callable[[], dict | None] = lambda: None) -> tuple[optuna.Study, dict | None, StudySpec]:
    """The study to run, the windows its trials and checks run on (per pair) and its spec, created
    with its manifest if new. What the study was created with wins (:func:`recorded_study`): a
    different spec is refused, and the windows are the recorded ones, else ``plan_windows()``.
    The spec and windows are also kept in the study itself (user attribute :data:`SHARED`): on a
    database, drivers on other machines run the same search on the same windows; on the journal,
    ``hbopt study repair`` rebuilds a lost manifest from them. A new study's manifest is written
    before its journal, so a run stopped in between resumes."""
    spec, windows = recorded_study(folder, spec, storage_url)
    windows = windows or plan_windows()
    url = folder.storage_url(storage_url)
    if not folder.exists():
        folder.write_manifest({**new_manifest(folder.name, spec.to_dict(), url, user_module), "windows": windows})
    storage, _ = folder.storage(url)
    study = optuna.create_study(study_name=folder.name, storage=storage,
                                directions=[o.direction for o in spec.objectives], load_if_exists=True)
    if study.metric_names is None:  # what optuna-dashboard and trials_dataframe name the values
        with warnings.catch_warnings(category=optuna.exceptions.ExperimentalWarning, action="ignore"):
            study.set_metric_names([o.metric for o in spec.objectives])
    if SHARED not in study.user_attrs:
        study.set_user_attr(SHARED, {"spec": spec.to_dict(), "windows": windows})
    return study, windows, spec


def _kept_objective(name: str, recorded: dict, spec: StudySpec) -> StudySpec:
    """``spec`` with the recorded study's objectives if it asked for none."""
    if not spec.default_objective or recorded.get("objective") == spec.to_dict()["objective"]:
        return spec
    try:
        objectives = tuple(Objective.parse(o) for o in recorded["objective"])
    except ConfigError as exc:
        raise ConfigError(f"study {name}: {exc}; its trials stay readable, but a new study is needed to "
                          "search on") from None
    return replace(spec, objectives=objectives)


def objective_note(name: str, spec: StudySpec) -> list[str]:
    """What to say of a study that ranks by one of Hummingbot's own summary metrics."""
    theirs = [o.metric for o in spec.objectives if not o.metric.startswith("account.")]
    if not theirs:
        return []
    return [f"study {name} ranks by Hummingbot's {', '.join(theirs)}, not the account's figures (a study made "
            "before hbopt kept an account keeps its objective); a new study ranks by account.pnl_quote"]


def _shared_record(storage, name: str) -> dict | None:
    """What a shared study records of its spec and windows; None if there is no such study yet."""
    try:
        return optuna.load_study(study_name=name, storage=storage).user_attrs.get(SHARED)
    except KeyError:
        return None


def _refuse_changes(name: str, recorded: dict, spec_dict: dict) -> None:
    recorded = {**UNRECORDED, **recorded}
    changed = [k for k in _AGREED if json.dumps(recorded.get(k), sort_keys=True, default=str) !=
               json.dumps(spec_dict.get(k), sort_keys=True, default=str)]
    if changed:
        raise ConfigError(f"study {name} exists with a different {', '.join(changed)}; "
                          "resume it with the same study file and options, or pick another --study name")


def run_trials(folder: StudyFolder, study: optuna.Study, spec: StudySpec, pool: Pool, n_trials: int,
               windows: dict | None = None, on_progress: Callable[[Progress], None] = lambda p: None,
               first=()) -> Progress:
    """Run ``n_trials`` more trials on ``pool``, each backtested on ``windows[pair]`` (start, end)
    if given, the points ``first`` (a model sampler's) before any the sampler draws; record the
    run in the manifest. Every trial failing raises its error (see :func:`_refuse_if_hopeless`).
    Call under the study lock."""
    began = time.time()
    progress = Optimizer(study, spec, pool, windows, first).run(n_trials, on_progress)
    _record_run(folder, began, progress, pool.size)
    _refuse_if_hopeless(progress)
    return progress


def _record_run(folder: StudyFolder, began: float, progress: Progress, workers: int) -> None:
    run = {"started": int(began), "finished": int(time.time()), "trials": progress.done, "failed": progress.failed,
           "duplicates": progress.duplicates, "workers": workers, "pid": os.getpid()}
    folder.update_manifest(lambda manifest: manifest["runs"].append(run))


def _refuse_if_hopeless(progress: Progress) -> None:
    """Every trial failed: raise the first failure's error class (a DataError exits 3, a
    ConfigError 4, a ControllerError 8; anything else is an internal error) rather than leave a
    silent empty study."""
    if progress.done and progress.failed == progress.done:
        first = progress.errors[0]
        raise type(from_description(first))(f"all {progress.done} trials failed; the first: {first}")


# ------------------------------------------------------------------------------------ reading
def _spec_of(folder: StudyFolder) -> dict:
    return folder.manifest()["spec"]


def space_of(folder: StudyFolder) -> list:
    """The search space study ``folder`` was created with."""
    return parse_space(_spec_of(folder)["space"])


ABANDONED = "abandoned: its run ended before it finished"


def trial_error(t: optuna.trial.FrozenTrial) -> str | None:
    """Why a trial failed; a failed trial without a recorded reason was left running by a killed run."""
    return t.user_attrs.get("error", ABANDONED if t.state == TrialState.FAIL else None)


def feasible_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if not t.user_attrs.get("constraints_violated") and not t.user_attrs.get("duplicate")]


def ranked(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Feasible, distinct trials, best first (multi-objective: the Pareto front first)."""
    trials = feasible_trials(study)
    if len(study.directions) > 1:
        front = {t.number for t in study.best_trials}
        return sorted(trials, key=lambda t: (t.number not in front, t.number))
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
    return sorted(trials, key=lambda t: (sign * t.values[0], t.number))


def study_controllers(folder: StudyFolder, given: Path | None) -> Path | None:
    """The controllers folder a stored study's controller loads from: ``given``
    (``--controllers-path``), else the one the study recorded (None: a built-in). A ConfigError
    when the recorded folder is gone, or when the controller's source is not the one the study
    ran (its trials would not be what that code does)."""
    from hbopt.engine.controllers import use_controllers_path

    manifest = folder.manifest()
    recorded = manifest.get("controllers_path")
    path = Path(given) if given else Path(recorded) if recorded else None
    if path is None:
        return None
    if not path.is_dir():
        raise ConfigError(f"study {folder.name} loads its controller from {path}, which is no longer a folder: "
                          "pass --controllers-path where the controllers are now")
    spec = manifest["spec"]
    ran = manifest.get("controller_source_sha256")
    if ran and controller_source_hash(spec["controller_type"], spec["controller"], use_controllers_path(path)) != ran:
        raise ConfigError(f"study {folder.name}: controller {spec['controller']} in {path} changed since the study "
                          "ran it; restore it, or start a new study (--study NAME) on the new code")
    return path


def require_ranked(name: str, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """:func:`ranked`, or a :class:`ConfigError` saying why study ``name`` has no trial to rank:
    none yet, all failed (with the most frequent error), or none feasible."""
    trials = ranked(study)
    if trials:
        return trials
    every = study.get_trials(deepcopy=False)
    failed = [e for e in map(trial_error, every) if e]
    if not every:
        why = "it has no trial yet: run hbopt discover on it"
    elif failed:
        common = max(set(failed), key=failed.count)
        why = f"{len(failed)} of its {len(every)} trials failed, most often with: {common}"
    else:
        why = f"none of its {len(every)} trials is complete and feasible (check its constraints)"
    raise ConfigError(f"study {name} has no completed, feasible trial: {why}")


def summary(folder: StudyFolder, study: optuna.Study, progress: Progress | None = None, top: int = 5) -> dict:
    """A study's counts and its ``top`` trials (:func:`trial_row`); ``turbo_fallbacks``
    (:meth:`TurboFallbacks.as_dict`) over all its trials if any asked for the turbo engine; with
    ``progress``, this run's figures."""
    trials = study.get_trials(deepcopy=False)
    states = {s.name: sum(1 for t in trials if t.state == s) for s in (TrialState.COMPLETE, TrialState.FAIL)}
    spec, space = _spec_of(folder), space_of(folder)
    out = {"study": folder.name, "folder": str(folder.path), "trials": len(trials), **{k.lower(): v for k, v in states.items()},
           "objectives": spec["objective"], "best": [trial_row(t, space) for t in ranked(study)[:top]]}
    fallbacks = TurboFallbacks.of(t.user_attrs for t in trials)
    if fallbacks.turbo_trials:
        out["turbo_fallbacks"] = fallbacks.as_dict()
    if progress is not None:
        elapsed = time.monotonic() - progress.started
        out["run"] = {"trials": progress.done, "failed": progress.failed, "duplicates": progress.duplicates,
                      "rejected": progress.rejected,
                      "seconds": round(elapsed, 2), "backtests_per_s": round(progress.backtests / elapsed, 3) if elapsed else None,
                      "held_share": round(progress.held_share, 4)}
    if folder.report_path.is_file():
        out["report"] = str(folder.report_path)
    return out


HUMMINGBOT_COLUMNS = ("net_pnl_quote", "sharpe_ratio", "max_drawdown_pct", "total_executors")


def trial_row(t: optuna.trial.FrozenTrial, space) -> dict:
    """A trial's objective values, params, and per pair its ``account`` figures (None for a trial
    recorded before hbopt kept an account) and a few of ``hummingbot``'s own summary metrics."""
    metrics = t.user_attrs.get("metrics") or [{}]
    return {"number": t.number, "values": t.values, "params": on_steps(space, t.params),
            "account": [m.get("account") for m in metrics],
            "hummingbot": [{k: m.get(k) for k in HUMMINGBOT_COLUMNS} for m in metrics],
            "warnings": t.user_attrs.get("warnings", [])}


def list_studies() -> list[dict]:
    """Each study's controller, pairs, trial counts and objective; a study that cannot be read
    gets its name and ``error`` instead, so one damaged study hides none of the others."""
    rows = []
    for name in list_study_names():
        folder = StudyFolder(name)
        try:
            manifest = folder.manifest()
            trials = folder.load().get_trials(deepcopy=False)
        except HboptError as exc:
            rows.append({"study": name, "error": str(exc)})
            continue
        spec = manifest["spec"]
        rows.append({"study": name, "controller": spec["controller"], "connector": spec["connector"],
                     "pairs": spec["pairs"], "trials": len(trials),
                     "complete": sum(1 for t in trials if t.state == TrialState.COMPLETE),
                     "objective": [o.get("metric") for o in spec["objective"] if isinstance(o, dict)],
                     "created_at": manifest["created_at"]})
    return rows


def delete(name: str) -> dict:
    """Delete study ``name``: its folder (journal, manifest, validation, ledgers, report) and, for
    a study on a database storage, its trials there. Refused (BusyError, exit 6) while a run holds
    a journal study's lock. Returns ``{"study", "folder", "storage"}`` (the URL, or None)."""
    folder = StudyFolder(name)
    if not folder.exists():
        folder.manifest()  # "no study named ..."
    try:
        url = folder.storage_url()
    except DataError:  # a damaged manifest: the folder is what there is to delete
        url = None
    with folder.lock(url):
        if url:
            try:
                optuna.delete_study(study_name=name, storage=open_storage(url))
            except KeyError:  # not in the database (any more): the folder is all there is
                pass
        shutil.rmtree(folder.path)  # unlinks links inside, never follows them
    return {"study": name, "folder": str(folder.path), "storage": url}


def repair(name: str, storage_url: str | None = None) -> dict:
    """Make a damaged study whole again, under its lock. The journal keeps every whole record, in
    order (the damaged original stays beside it as ``journal.log.damaged``); a missing or damaged
    manifest is rebuilt from the spec and windows the study keeps in its storage (its run history
    is lost; ``rebuilt_at`` says so). Returns ``{"study", "journal": {"kept", "dropped", "backup"}
    or None (no journal), "manifest": "whole" or "rebuilt"}``; ``dropped`` lists line numbers."""
    folder = StudyFolder(name)
    if not folder.exists() and not storage_url:
        folder.manifest()  # "no study named ..."
    with folder.lock(storage_url):
        journal = _repair_journal(folder)
        try:
            folder.manifest()
            state = "whole"
        except DataError:
            _rebuild_manifest(folder, storage_url)
            state = "rebuilt"
        folder.load()  # reads back whole, or says why not
    return {"study": name, "journal": journal, "manifest": state}


def _repair_journal(folder: StudyFolder) -> dict | None:
    """Rewrite the journal with its whole records only, setting the original aside (see :func:`repair`)."""
    path = folder.journal_path
    if not path.is_file():
        return None
    with open(path, "rb") as journal:
        whole = [line.endswith(b"\n") and journal_record(line) is not None for line in journal]
    dropped = [number for number, ok in enumerate(whole, start=1) if not ok]
    backup = None
    if dropped:
        backup = _set_aside(path)
        with open(backup, "rb") as journal, atomic_path(path) as tmp, open(tmp, "wb") as repaired:
            repaired.writelines(line for line, ok in zip(journal, whole) if ok)
    return {"kept": whole.count(True), "dropped": dropped, "backup": str(backup) if backup else None}


def _set_aside(path: Path) -> Path:
    """A copy of ``path`` beside it, ``NAME.damaged`` (``.damaged.2``, ... if taken): a hard link
    where the file system allows one."""
    for n in itertools.count(1):
        backup = path.with_name(f"{path.name}.damaged" + (f".{n}" if n > 1 else ""))
        if backup.exists() or backup.is_symlink():
            continue
        try:
            os.link(path, backup)
        except FileExistsError:
            continue
        except OSError:
            with open(path, "rb") as original, atomic_path(backup) as tmp:
                tmp.write_bytes(original.read())
        return backup


def _rebuild_manifest(folder: StudyFolder, storage_url: str | None) -> None:
    """A manifest from what the study keeps in its storage (user attribute :data:`SHARED`)."""
    storage = open_storage(storage_url) if storage_url else folder.journal_storage()
    try:
        study = optuna.load_study(study_name=folder.name, storage=storage)
    except KeyError:
        raise DataError(f"study {folder.name} is not in its storage, so its manifest cannot be rebuilt") from None
    record = study.user_attrs.get(SHARED)
    if not isinstance(record, dict) or not isinstance(record.get("spec"), dict):
        raise DataError(f"study {folder.name}: its manifest cannot be rebuilt: its storage holds no record of its "
                        f"spec (a study made before hbopt kept one there); start it over in a new folder")
    started = [t.datetime_start.timestamp() for t in study.get_trials(deepcopy=False) if t.datetime_start]
    spec = record["spec"]
    manifest = {"name": folder.name, "created_at": int(min(started, default=time.time())), "storage": storage_url,
                "spec": spec, "seed": spec.get("seed"), "versions": versions(), "controller_source_sha256": None,
                "data": {}, "runs": [], "windows": record.get("windows"), "rebuilt_at": int(time.time())}
    problem = manifest_problem(manifest)
    if problem:
        raise DataError(f"study {folder.name}: its manifest cannot be rebuilt: the record in its storage is damaged "
                        f"({problem})")
    folder.write_manifest(manifest)


def show(name: str) -> dict:
    folder = StudyFolder(name)
    manifest = folder.manifest()
    return {**summary(folder, folder.load(), top=1), "manifest": manifest}


def best(name: str, top: int) -> list[dict]:
    folder = StudyFolder(name)
    space = space_of(folder)
    return [trial_row(t, space) for t in require_ranked(name, folder.load())[:top]]


def export_trials(name: str, fmt: str) -> str:
    """Every trial as CSV or JSON lines: number, state, values, params, metrics, config, error."""
    folder = StudyFolder(name)
    study, space = folder.load(), space_of(folder)
    rows = []
    for t in study.get_trials(deepcopy=False):
        metrics = (t.user_attrs.get("metrics") or [{}])
        rows.append({"number": t.number, "state": t.state.name, "values": t.values, "params": on_steps(space, t.params),
                     "metrics": metrics, "configs": t.user_attrs.get("configs"), "error": trial_error(t),
                     "warnings": t.user_attrs.get("warnings", []), "duplicate_of": t.user_attrs.get("duplicate_of"),
                     "seconds": t.user_attrs.get("seconds")})
    if fmt == "jsonl":
        return "".join(json.dumps(r, default=str) + "\n" for r in rows)
    buffer = io.StringIO()
    param_names = sorted({k for r in rows for k in r["params"]})
    metric_names = sorted({k for r in rows for m in r["metrics"] for k in m if k not in ("close_types", "warnings")})
    writer = csv.writer(buffer)
    writer.writerow(["number", "state", "values", *param_names, *metric_names, "error", "warnings"])
    for r in rows:
        first = r["metrics"][0] if r["metrics"] else {}
        writer.writerow([r["number"], r["state"], json.dumps(r["values"]), *(r["params"].get(p, "") for p in param_names),
                         *(first.get(m, "") for m in metric_names), r["error"] or "", "; ".join(r["warnings"])])
    return buffer.getvalue()
