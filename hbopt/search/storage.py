"""Where studies live: ``$HBOPT_HOME/studies/NAME/`` holds the optuna journal (or the name of the
storage URL used), the reproducibility manifest and the report. Only a run (``discover``)
creates or writes a study; reading one changes nothing.

A study on its journal file belongs to one run at a time: a local lock keeps a second one out.
A study on a database (``--storage`` an RDB URL) is shared: several drivers, on this machine or
others, may run it at once, each writing only its own finished trials. The database, not a local
file, then holds what they must agree on (see :func:`hbopt.search.studies.open_study`).
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import importlib
import importlib.util
import json
import re
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend

from hbopt import __version__, settings
from hbopt.errors import ConfigError, DataError
from hbopt.files import ensure_file, file_lock, home_folder, read_json, unusable, write_text_atomic

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}")
MANIFEST_KEYS = {"name": str, "created_at": int, "spec": dict, "runs": list}
SPEC_KEYS = {"controller": str, "controller_type": str, "connector": str, "pairs": list, "space": dict,
             "objective": list, "window": dict}
SHARED = "hbopt"  # the study's user attribute holding its spec and windows, in whatever storage it lives


def studies_dir() -> Path:
    return settings.home() / "studies"


class CheckedJournal(JournalFileBackend):
    """optuna's journal file, read strictly. Every line must be a whole journal record, except a
    last line without its newline (a writer mid-append, or a run killed mid-write: a run drops it
    with :meth:`StudyFolder.repair_journal` before it appends); any other line that is not one is a
    :class:`DataError` naming the study, the file and the line, never skipped, so no command reads
    or resumes a study with records missing. A failed append (a full disk) names the file."""

    def __init__(self, path: Path, study: str):
        super().__init__(str(path))
        self._path, self._study = Path(path), study
        self._starts = [0]  # byte offset of each line read whole so far, and of the next

    def read_logs(self, log_number_from: int):
        known = min(log_number_from, len(self._starts) - 1)
        with open(self._path, "rb") as journal:
            journal.seek(self._starts[known])
            for number, line in enumerate(journal, start=known):
                if not line.endswith(b"\n"):
                    return  # the last line, still being written or torn
                record = journal_record(line)
                if record is None:
                    raise DataError(damaged_journal(self._study, self._path, number + 1))
                if number + 1 == len(self._starts):
                    self._starts.append(self._starts[number] + len(line))
                if number >= log_number_from:
                    yield record

    def append_logs(self, logs) -> None:
        try:
            super().append_logs(logs)
        except OSError as exc:
            raise unusable(self._path, "write", exc) from None


def journal_record(line: bytes) -> dict | None:
    """The record a journal line holds, or ``None`` if it holds no whole one."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("op_code"), int) else None


def damaged_journal(study: str, path: Path, line: int) -> str:
    return (f"study {study}: {path} line {line} is damaged (not a whole journal record); "
            f"'hbopt study repair {study}' keeps every whole record")


@dataclass(frozen=True)
class StudyFolder:
    name: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError(f"invalid study name {self.name!r}: use letters, digits, '.', '_' and '-'")

    @property
    def path(self) -> Path:
        return studies_dir() / self.name

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    @property
    def journal_path(self) -> Path:
        return self.path / "journal.log"

    def exists(self) -> bool:
        """Whether this is a study: it has a manifest, or a journal with records (whose manifest
        is then missing: :meth:`manifest` says so)."""
        home_folder(studies_dir(), "studies folder", create=False)
        return self.manifest_path.is_file() or (self.journal_path.is_file() and self.journal_path.stat().st_size > 0)

    def make(self) -> None:
        """Create the study's folder (this user's own) for a run."""
        home_folder(studies_dir(), "studies folder")
        home_folder(self.path, "study folder")

    def storage_url(self, url: str | None = None) -> str | None:
        """The storage URL a run uses: ``url`` if given, else the one recorded (None: the journal)."""
        return url or (self.manifest().get("storage") if self.exists() else None)

    def lock(self, storage_url: str | None = None):
        """For a run (or a repair). On the journal: exclusive, non-blocking, so a second run of the
        same study fails with BusyError (exit 6). On a database storage: none, the study is shared."""
        if storage_url or (not self.journal_path.is_file() and self.storage_url()):
            return contextlib.nullcontext()
        return file_lock(self.path / ".lock", wait=False, what=f"study {self.name}")

    def manifest(self) -> dict:
        """The manifest; a :class:`ConfigError` if there is no such study, a :class:`DataError`
        naming the file if it is missing beside a journal, or damaged."""
        if not self.exists():
            known = ", ".join(list_study_names()) or "none yet"
            raise ConfigError(f"no study named {self.name!r} (studies: {known})")
        remedy = f"; 'hbopt study repair {self.name}' rebuilds it from the study's journal"
        manifest = read_json(self.manifest_path, f"study {self.name}: its manifest", remedy)
        if manifest is None:
            raise DataError(f"study {self.name}: its manifest {self.manifest_path} is missing (its windows are "
                            f"unknown, so it cannot be resumed or judged){remedy}")
        problem = manifest_problem(manifest)
        if problem:
            raise DataError(f"study {self.name}: its manifest {self.manifest_path} is damaged ({problem}){remedy}")
        return manifest

    def write_manifest(self, manifest: dict) -> None:
        write_text_atomic(self.manifest_path, json.dumps(manifest, indent=2, default=str))

    def update_manifest(self, change) -> None:
        """Apply ``change(manifest)`` (in place) and write it, under a short lock of its own: drivers
        sharing a study on one machine do not lose each other's runs."""
        with file_lock(self.path / ".manifest.lock", what=f"study {self.name}'s manifest"):
            manifest = self.manifest()
            change(manifest)
            self.write_manifest(manifest)

    def storage(self, url: str | None = None):
        """The optuna storage and its URL (None for the journal): ``url`` if given, else the one
        recorded, else the study's journal file, created if missing (for a run, under the lock)."""
        url = self.storage_url(url)
        if url:
            return open_storage(url), url
        return self.journal_storage(), None

    def journal_storage(self) -> optuna.storages.JournalStorage:
        """The study's journal (:class:`CheckedJournal`), created if missing."""
        self.make()
        ensure_file(self.journal_path, f"study {self.name}'s journal")  # optuna opens it by name
        return optuna.storages.JournalStorage(CheckedJournal(self.journal_path, self.name))

    def load(self) -> optuna.Study:
        """The study, to read: a ConfigError if there is none by this name; creates nothing. (A torn
        last journal line, left by a killed run, is skipped.)"""
        url = self.manifest().get("storage")
        if url is None and not self.journal_path.is_file():
            raise ConfigError(f"study {self.name} has no journal ({self.journal_path})")
        storage, _ = self.storage()
        try:
            return optuna.load_study(study_name=self.name, storage=storage)
        except KeyError:
            raise ConfigError(f"study {self.name} is not in its storage {url or self.journal_path}") from None

    def repair_journal(self) -> list[str]:
        """Drop a torn last line of the journal (a run killed mid-write) so that appends start on a
        line of their own; call under the study lock. Returns a warning for the user, if it did."""
        if not self.journal_path.is_file():
            return []
        with open(self.journal_path, "rb+") as journal:
            size = journal.seek(0, 2)
            keep = size
            while keep > 0:
                chunk = min(keep, 1 << 16)
                journal.seek(keep - chunk)
                newline = journal.read(chunk).rfind(b"\n")
                if newline >= 0:
                    keep = keep - chunk + newline + 1
                    break
                keep -= chunk
            if keep == size:
                return []
            journal.truncate(keep)
        return [f"study {self.name}: dropped the torn last line of its journal ({size - keep} bytes a killed run "
                "left half-written)"]


def manifest_problem(manifest: dict) -> str | None:
    """What is wrong with a manifest's shape, or ``None``."""
    wrong = [k for k, kind in MANIFEST_KEYS.items() if not isinstance(manifest.get(k), kind)]
    if wrong:
        return f"it lacks or garbles {', '.join(wrong)}"
    wrong = [f"spec.{k}" for k, kind in SPEC_KEYS.items() if not isinstance(manifest["spec"].get(k), kind)]
    windows = manifest.get("windows")
    if windows is not None and not (isinstance(windows, dict) and all(
            isinstance(w, dict) and isinstance(w.get("in_sample"), list) and len(w["in_sample"]) == 2
            for w in windows.values())):
        wrong.append("windows")
    return f"it lacks or garbles {', '.join(wrong)}" if wrong else None


def check_storage_url(url: str) -> None:
    """A :class:`ConfigError` for a storage URL that cannot name a lasting database: not a URL,
    or an in-memory SQLite one (the study would vanish when hbopt exits). Connects to nothing."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"cannot open storage {url}: {exc}") from None
    if parsed.get_backend_name() == "sqlite" and (parsed.database in (None, "", ":memory:")
                                                  or parsed.query.get("mode") == "memory"):
        raise ConfigError(f"storage {url} is an in-memory database: the study would vanish when hbopt exits; "
                          "use a file, e.g. sqlite:///studies.db")


def open_storage(url: str):
    """The optuna storage at ``url`` (an RDB URL such as ``sqlite:///studies.db``); ConfigError if
    it is refused (:func:`check_storage_url`) or cannot be opened. Drivers started at once on a new
    database race to create optuna's tables: the one that loses (IntegrityError or ProgrammingError
    on PostgreSQL; on SQLite an OperationalError, "table ... already exists") tries again once they
    exist, and so does one that found the database locked."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    check_storage_url(url)
    for attempt in range(_SCHEMA_TRIES):
        if attempt:
            time.sleep(0.5 * attempt)
        try:
            return optuna.storages.get_storage(url)
        except (IntegrityError, ProgrammingError, OperationalError) as exc:
            error = exc
        except Exception as exc:
            error = exc
            break
    reason = (str(error).strip() or type(error).__name__).splitlines()[0]  # SQLAlchemy's messages run on
    raise ConfigError(f"cannot open storage {url}: {reason}")


_SCHEMA_TRIES = 4


def list_study_names() -> list[str]:
    """The studies in the studies folder: folders with a manifest or a journal."""
    root = home_folder(studies_dir(), "studies folder", create=False)
    if not root.is_dir():
        return []
    names = (p.name for p in root.iterdir() if (p / "manifest.json").is_file() or (p / "journal.log").is_file())
    return sorted(n for n in names if _NAME.fullmatch(n))


def controller_source_hash(controller_type: str, controller_name: str, user_module: str | None) -> str:
    """SHA-256 of the controller module's source, so a changed controller is visible."""
    from hbopt.engine.controllers import config_class

    module = importlib.import_module(config_class(controller_type, controller_name, user_module).__module__)
    return hashlib.sha256(inspect.getsource(module).encode()).hexdigest()


def controllers_folder(user_module: str | None) -> str | None:
    """The folder a user's controllers package ``user_module`` loads from (None for the built-ins)."""
    if not user_module:
        return None
    found = importlib.util.find_spec(user_module)
    return str(Path(found.submodule_search_locations[0]).resolve()) if found and found.submodule_search_locations else None


def data_checksums(connector: str, pairs) -> dict:
    """Checksums of the store files the study reads (as recorded by the mirror)."""
    from hbopt.cache.mirror import Mirror

    mirror = Mirror.default()
    return {row["file"]: row.get("source_checksum") for pair in pairs for row in mirror.status((connector, pair))}


def versions() -> dict:
    return {"hbopt": __version__, "hummingbot": version("hummingbot"), "optuna": optuna.__version__}


def new_manifest(name: str, spec_dict: dict, storage_url: str | None, user_module: str | None) -> dict:
    return {
        "name": name, "created_at": int(time.time()), "storage": storage_url, "spec": spec_dict,
        "seed": spec_dict.get("seed"),
        "versions": versions(),
        "controller_source_sha256": controller_source_hash(spec_dict["controller_type"], spec_dict["controller"],
                                                           user_module),
        "controllers_path": controllers_folder(user_module),
        "data": data_checksums(spec_dict["connector"], spec_dict["pairs"]),
        "runs": [],
    }
