"""The mirror: the candle store copied to ``$HBOPT_MIRROR_DIR`` as memory-mappable arrays.

Each store file ``X.parquet`` becomes ``X.npy`` (float64, rows x the series' columns: the ten
candle columns, or a funding series' two) plus
``X.json``, a sidecar with the columns, row count, first/last timestamp, the array's size and
identity (inode, modification and change times, read after it was renamed into place) and the
store file's SHA-256 and identity at the time it was copied.

The mirror's default home, ``/tmp``, is shared: another user could create the folder first or
swap a file in it. So the folder must be this user's own and writable by nobody else (created
0700), and so must every file in it, none a symbolic link (:mod:`hbopt.files`); otherwise every
command refuses it (exit 4, naming ``$HBOPT_MIRROR_DIR``). Only its owner can then write the
sidecars, and an array whose identity is not the one its sidecar recorded (replaced, or written
to since) is ``corrupt``: never served, copied again by ``refresh``. Checking identity costs a
``stat``, not a read of the array; the store file is hashed only when its identity changed.

Writers (refresh, clear) hold an exclusive lock on ``.lock`` in the mirror folder; readers hold
a shared one while they open a file, so a reader never pairs a new sidecar with an old array.
Every file is written to a temporary name and renamed into place.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hbopt import settings
from hbopt.cache.candles import resample_array, source_interval_for
from hbopt.cache.funding import FUNDING
from hbopt.cache.store import CandleKey, CandleStore, file_checksum, file_identity, keys_in
from hbopt.errors import DataError
from hbopt.files import atomic_path, file_lock, open_owned, owned_folder, read_owned, write_text_atomic

LOCK_NAME = ".lock"
_FILE_MODE = 0o600
_SIDECAR_KEYS = {"columns": list, "rows": int, "first": (int, type(None)), "last": (int, type(None)),
                 "bytes": int, "array": dict, "source": str, "source_checksum": str, "source_stat": dict,
                 "mirrored_at": int}
_ARRAY_IDENTITY = ("bytes", "inode", "mtime_ns", "ctime_ns")
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class _Damaged(Exception):
    """A mirror file that does not match its sidecar, or a sidecar that is not one."""


def _array_identity(st: os.stat_result) -> dict:
    return {**file_identity(st), "ctime_ns": st.st_ctime_ns}


@dataclass(frozen=True)
class Mirror:
    """A mirror folder and the store it mirrors."""

    root: Path
    store: CandleStore

    @classmethod
    def default(cls) -> Mirror:
        return cls(settings.mirror_dir(), CandleStore())

    def _folder(self, create: bool = False) -> Path:
        """The mirror folder, checked to be this user's alone (created 0700 when ``create``)."""
        return owned_folder(self.root, "mirror folder", mode=0o700, create=create)

    def _array_path(self, key: CandleKey) -> Path:
        return self.root / f"{key.stem}.npy"

    def _sidecar_path(self, key: CandleKey) -> Path:
        return self.root / f"{key.stem}.json"

    def _lock(self, shared: bool):
        return file_lock(self.root / LOCK_NAME, shared=shared, what=f"mirror {self.root}", owned=True)

    def _sidecar(self, key: CandleKey) -> dict | None:
        """The sidecar (``None`` if there is none); :class:`_Damaged` if it is not a whole one."""
        raw = read_owned(self._sidecar_path(key), "mirror file")
        if raw is None:
            return None
        try:
            side = json.loads(raw)
        except ValueError:
            raise _Damaged("its sidecar is not JSON") from None
        if not isinstance(side, dict):
            raise _Damaged("its sidecar is not a JSON object")
        wrong = [k for k, kind in _SIDECAR_KEYS.items() if not isinstance(side.get(k), kind)]
        wrong += [f"array.{k}" for k in _ARRAY_IDENTITY if not isinstance(side.get("array", {}).get(k), int)]
        if wrong or side["columns"] != list(key.columns) or side["rows"] < 0:
            raise _Damaged(f"its sidecar lacks or garbles {', '.join(wrong) or 'columns, rows'}")
        return side

    def mirrored_keys(self, pair: tuple[str, str] | None = None) -> list[CandleKey]:
        """The mirrored series, sorted; with ``pair`` (connector, pair), that pair's only."""
        if not self._folder().is_dir():
            return []
        return keys_in(self.root, ".json", pair)

    def _open_array(self, key: CandleKey, side: dict):
        """The array file, open, checked against its sidecar: its identity and its header's shape;
        returns ``(file, offset of the data)``. :class:`_Damaged` if it does not match,
        ``FileNotFoundError`` if there is none."""
        fh = os.fdopen(open_owned(self._array_path(key), "mirror file"), "rb")
        try:
            now = _array_identity(os.fstat(fh.fileno()))
            if now != {k: side["array"][k] for k in _ARRAY_IDENTITY}:
                raise _Damaged("it was replaced or written to since it was mirrored" if now["bytes"] == side["bytes"]
                               else f"{now['bytes']} bytes where its sidecar records {side['bytes']}")
            try:
                read_header = _HEADER_READERS.get(np.lib.format.read_magic(fh))
                if read_header is None:
                    raise ValueError("an unknown .npy format version")
                shape, fortran, dtype = read_header(fh)
            except ValueError as exc:
                raise _Damaged(f"its header cannot be read: {exc}") from None
            if shape != (side["rows"], len(key.columns)) or fortran or dtype != np.float64:
                raise _Damaged(f"it holds {shape} {dtype} where its sidecar says ({side['rows']}, {len(key.columns)}) "
                               "float64")
            return fh, fh.tell()
        except BaseException:
            fh.close()
            raise

    def _state(self, key: CandleKey) -> tuple[str, str | None, dict]:
        """The state of a stored file's mirror copy (see :meth:`status`), why when it is
        unreadable or corrupt, and its sidecar (empty when there is no whole one)."""
        side = {}
        try:
            side = self._sidecar(key) or {}
        except _Damaged as exc:
            damage = str(exc)
        else:
            damage = None
        if not side or self.store.identity(key) != side["source_stat"]:  # changed since it was mirrored
            error = self.store.read_error(key)
            if error:
                return "unreadable", error, {}
            if damage:
                return "corrupt", damage, {}
            if not side:
                return "missing", None, side
            if file_checksum(self.store.path(key)) != side["source_checksum"]:
                return "stale", None, side
        try:
            self._open_array(key, side)[0].close()
        except FileNotFoundError:
            return "missing", None, side
        except _Damaged as exc:
            return "corrupt", str(exc), side
        return "fresh", None, side

    def status(self, pair: tuple[str, str] | None = None) -> list[dict]:
        """Each store or mirror file with its state: ``fresh``, ``stale`` (the store file changed),
        ``missing`` (in the store, not mirrored), ``corrupt`` (the array does not match its
        sidecar, or the sidecar is damaged; the row's ``error`` says how; :meth:`verify` checks the
        content too), ``unreadable`` (the store file's parquet footer cannot be read; ``error``
        says why) or ``orphan`` (mirrored, gone from the store). With ``pair`` (connector, pair), that pair's files only."""
        stored = set(self.store.keys(pair))
        rows = []
        for key in sorted(stored | set(self.mirrored_keys(pair))):
            state, error, side = self._state(key) if key in stored else ("orphan", None, {})
            row = {"file": key.stem, "connector": key.connector, "pair": key.pair, "interval": key.interval,
                   "state": state}
            if error:
                row["error"] = error
            else:
                row.update({k: side[k] for k in ("rows", "first", "last", "mirrored_at", "source_checksum") if k in side})
            rows.append(row)
        return rows

    def refresh(self, pair: tuple[str, str] | None = None) -> dict:
        """Bring the mirror in line with the store, copying what changed or is corrupt; with
        ``pair`` (connector, pair), only that pair's files.

        Returns ``{"copied": [...], "unchanged": [...], "removed": [...], "failed": {stem: error}}``.
        A store file that cannot be read is reported under ``failed`` and its mirror copy removed
        (stale candles are never served); every other file is still mirrored.
        Concurrent refreshes serialise on the lock; the later one finds nothing to do.
        """
        report = {"copied": [], "unchanged": [], "removed": [], "failed": {}}
        self._folder(create=True)
        with self._lock(shared=False):
            stored = self.store.keys(pair)
            for key in stored:
                if self._state(key)[0] == "fresh":
                    report["unchanged"].append(key.stem)
                    continue
                try:
                    self._copy(key)
                    report["copied"].append(key.stem)
                except DataError as exc:
                    self._remove(key)
                    report["failed"][key.stem] = str(exc)
            for key in set(self.mirrored_keys(pair)) - set(stored):
                self._remove(key)
                report["removed"].append(key.stem)
        return report

    def verify(self) -> dict:
        """Check every mirrored file in full, as :meth:`refresh` does not (it trusts a file whose
        identity is unchanged): its store file's SHA-256 against the one recorded when it was
        copied, and every value of the array against the store file's; copy again what fails.

        Returns ``{"verified": [...], "repaired": {stem: why}, "failed": {stem: error}, "bytes": n}``
        (``bytes``: what was read)."""
        report = {"verified": [], "repaired": {}, "failed": {}, "bytes": 0}
        self._folder(create=True)
        with self._lock(shared=False):
            for key in self.store.keys():
                state, error, side = self._state(key)
                problem = None if state == "fresh" else f"{state}{': ' + error if error else ''}"
                if problem is None:
                    try:
                        problem = self._differences(key, side)
                    except DataError as exc:
                        state, problem = "unreadable", str(exc)
                    report["bytes"] += side["bytes"] + (self.store.identity(key) or {}).get("bytes", 0)
                if problem is None:
                    report["verified"].append(key.stem)
                    continue
                if state == "unreadable":
                    self._remove(key)
                    report["failed"][key.stem] = problem
                    continue
                self._copy(key)
                report["repaired"][key.stem] = problem
        return report

    def _differences(self, key: CandleKey, side: dict) -> str | None:
        """How a fresh-looking mirror file differs from its store file in content, or None."""
        frame, source = self.store.snapshot(key)
        if source["sha256"] != side["source_checksum"]:
            return "its store file's bytes changed since it was mirrored, its size and times kept"
        fh, offset = self._open_array(key, side)
        with fh:
            fh.seek(offset)
            arr = np.fromfile(fh, dtype=np.float64, count=side["rows"] * len(key.columns))
        if not np.array_equal(arr.reshape(side["rows"], len(key.columns)), frame.to_numpy(dtype="float64"),
                              equal_nan=True):
            return "its values differ from its store file's"
        return None

    def _copy(self, key: CandleKey) -> None:
        frame, source = self.store.snapshot(key)
        arr = np.ascontiguousarray(frame.to_numpy(dtype="float64"))
        array_path = self._array_path(key)
        with atomic_path(array_path, mode=_FILE_MODE) as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr)
        array = _array_identity(os.stat(array_path))  # after the rename, which changes its ctime
        sidecar = {
            "columns": list(key.columns), "rows": int(arr.shape[0]),
            "first": int(arr[0, 0]) if len(arr) else None, "last": int(arr[-1, 0]) if len(arr) else None,
            "bytes": array["bytes"], "array": array,
            "source": self.store.path(key).name, "source_checksum": source.pop("sha256"), "source_stat": source,
            "mirrored_at": int(time.time()),
        }
        write_text_atomic(self._sidecar_path(key), json.dumps(sidecar, indent=1), mode=_FILE_MODE)

    def _remove(self, key: CandleKey) -> None:
        for path in (self._sidecar_path(key), self._array_path(key)):
            path.unlink(missing_ok=True)

    def clear(self) -> list[str]:
        """Remove every mirrored file; returns their stems."""
        if not self._folder().is_dir():
            return []
        with self._lock(shared=False):
            keys = self.mirrored_keys()
            for key in keys:
                self._remove(key)
        return [k.stem for k in keys]

    def load_fresh(self, connector: str, pair: str, interval: str) -> np.ndarray:
        """:meth:`load`, the pair's files refreshed first: what a lone backtest reads, so it
        refreshes the few files it reads, not a store of hundreds of pairs."""
        self.refresh((connector, pair))
        return self.load(connector, pair, interval)

    def is_fresh(self) -> bool:
        return all(row["state"] == "fresh" for row in self.status())

    def intervals(self, connector: str, pair: str) -> list[str]:
        return [k.interval for k in self.mirrored_keys((connector, pair))]

    def load(self, connector: str, pair: str, interval: str) -> np.ndarray:
        """Read-only array of a series at ``interval``: memory-mapped when mirrored at that interval,
        otherwise resampled from the coarsest finer mirrored interval that divides it; a pair's
        funding rates (``interval`` ``funding``) only as mirrored.

        :class:`DataError` if there is none (naming the store file when it is there but cannot
        be read) or the mirror file does not match its sidecar (its identity, size and shape)."""
        if interval == FUNDING:
            key = CandleKey(connector, pair, FUNDING)
            if key not in self.mirrored_keys((connector, pair)):
                raise DataError(f"no funding rates mirrored for {connector} {pair}; import or fetch them "
                                "('hbopt data import --funding'), then 'hbopt mirror refresh'")
            return self._mapped(key)
        source = source_interval_for(self.intervals(connector, pair), interval)
        if source is None:
            raise self._why_unmirrored(connector, pair, interval)
        arr = self._mapped(CandleKey(connector, pair, source))
        return arr if source == interval else resample_array(np.asarray(arr), source, interval)

    def _mapped(self, key: CandleKey) -> np.ndarray:
        """The mirrored array of ``key``, memory-mapped read-only; :class:`DataError` if it is
        missing or does not match its sidecar."""
        path = self._array_path(key)
        with self._lock(shared=True):
            try:
                side = self._sidecar(key)
                if side is None:
                    raise FileNotFoundError
                fh, offset = self._open_array(key, side)
            except (FileNotFoundError, _Damaged) as exc:
                reason = str(exc) if isinstance(exc, _Damaged) else "it is missing"
                raise DataError(f"mirror file {path} is damaged ({reason}); run 'hbopt mirror refresh'") from None
        with fh:
            width = len(key.columns)
            return (np.memmap(fh, dtype=np.float64, mode="r", shape=(side["rows"], width), offset=offset)
                    if side["rows"] else np.empty((0, width)))

    def _why_unmirrored(self, connector: str, pair: str, interval: str) -> DataError:
        """The error for a series the mirror cannot serve: the store file it would come from
        cannot be read, is not mirrored yet, or there is none."""
        stored = [k.interval for k in self.store.keys((connector, pair))]
        source = source_interval_for(stored, interval)
        if source is not None:
            key = CandleKey(connector, pair, source)
            try:
                self.store.read(key)
            except DataError as exc:
                return DataError(f"{exc}; the mirror holds none of its candles (re-import or remove it)")
            return DataError(f"{self.store.path(key).name} is stored but not mirrored; run 'hbopt mirror refresh'")
        have = ", ".join(self.intervals(connector, pair)) or "none"
        return DataError(f"no candles for {connector} {pair} at {interval} or a finer interval dividing it "
                         f"(mirrored intervals: {have}); import or fetch them, then 'hbopt mirror refresh'")
