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
import json
import re
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import optuna

from hbopt import __version__, settings
from hbopt.cache.files import file_lock, write_text_atomic
from hbopt.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")


def studies_dir() -> Path:
    return settings.home() / "studies"


@dataclass(frozen=True)
class StudyFolder:
    name: str

    def __post_init__(self):
        if not _NAME.match(self.name):
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
        return self.manifest_path.is_file()

    def storage_url(self, url: str | None = None) -> str | None:
        """The storage URL a run uses: ``url`` if given, else the one recorded (None: the journal)."""
        return url or (self.manifest().get("storage") if self.exists() else None)

    def lock(self, storage_url: str | None = None):
        """For a run. On the journal: exclusive, non-blocking, so a second run of the same study fails
        with BusyError (exit 6). On a database storage: none, the study is shared."""
        if self.storage_url(storage_url):
            return contextlib.nullcontext()
        return file_lock(self.path / ".lock", wait=False, what=f"study {self.name}")

    def manifest(self) -> dict:
        if not self.exists():
            known = ", ".join(list_study_names()) or "none yet"
            raise ConfigError(f"no study named {self.name!r} (studies: {known})")
        return json.loads(self.manifest_path.read_text())

    def write_manifest(self, manifest: dict) -> None:
        write_text_atomic(self.manifest_path, json.dumps(manifest, indent=2, default=str))

    def update_manifest(self, change) -> None:
        """Apply ``change(manifest)`` (in place) and write it, under a short lock of its own: drivers
        sharing a study on one machine do not lose each other's runs."""
        with file_lock(self.path / ".manifest.lock"):
            manifest = self.manifest()
            change(manifest)
            self.write_manifest(manifest)

    def storage(self, url: str | None = None):
        """The optuna storage and its URL (None for the journal): ``url`` if given, else the one
        recorded, else the study's journal file, created if missing (for a run, under the lock)."""
        url = self.storage_url(url)
        if url:
            return open_storage(url), url
        from optuna.storages.journal import JournalFileBackend

        self.path.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(self.journal_path))), None

    def load(self) -> optuna.Study:
        """The study, to read: a ConfigError if there is none by this name; creates nothing. (A torn
        last journal line, left by a killed run, is skipped: optuna ignores it when reading.)"""
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


def open_storage(url: str):
    """The optuna storage at ``url`` (an RDB URL such as ``sqlite:///studies.db``); ConfigError if
    it cannot be opened. Drivers started at once on a new database race to create optuna's
    tables: the one that loses tries again once they exist."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(_SCHEMA_TRIES):
        try:
            return optuna.storages.get_storage(url)
        except (IntegrityError, ProgrammingError) as exc:
            error = exc
            time.sleep(0.5 * (attempt + 1))
        except Exception as exc:
            error = exc
            break
    raise ConfigError(f"cannot open storage {url}: {error}")


_SCHEMA_TRIES = 4


def list_study_names() -> list[str]:
    root = studies_dir()
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file()) if root.is_dir() else []


def controller_source_hash(controller_type: str, controller_name: str, user_module: str | None) -> str:
    """SHA-256 of the controller module's source, so a changed controller is visible."""
    from hbopt.engine.controllers import config_class

    module = importlib.import_module(config_class(controller_type, controller_name, user_module).__module__)
    return hashlib.sha256(inspect.getsource(module).encode()).hexdigest()


def data_checksums(connector: str, pairs) -> dict:
    """Checksums of the store files the study reads (as recorded by the mirror)."""
    from hbopt.cache.mirror import Mirror

    mirror = Mirror.default()
    return {row["file"]: row.get("source_checksum") for row in mirror.status()
            if row["connector"] == connector and row["pair"] in pairs}


def new_manifest(name: str, spec_dict: dict, storage_url: str | None, user_module: str | None) -> dict:
    return {
        "name": name, "created_at": int(time.time()), "storage": storage_url, "spec": spec_dict,
        "seed": spec_dict.get("seed"),
        "versions": {"hbopt": __version__, "hummingbot": version("hummingbot"), "optuna": optuna.__version__},
        "controller_source_sha256": controller_source_hash(spec_dict["controller_type"], spec_dict["controller"],
                                                           user_module),
        "data": data_checksums(spec_dict["connector"], spec_dict["pairs"]),
        "runs": [],
    }
