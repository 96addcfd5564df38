"""The mirror: the candle store copied to ``$HBOPT_MIRROR_DIR`` as memory-mappable arrays.

Each store file ``X.parquet`` becomes ``X.npy`` (float64, rows x the ten candle columns) plus
``X.json``, a sidecar with the columns, row count, first/last timestamp, the array's size and
SHA-256 and the checksum of the store file it was made from. Writers (refresh, clear) hold an
exclusive lock on ``.lock`` in the mirror folder; readers hold a shared one while they open a
file, so a reader never pairs a new sidecar with an old array. Every file is written to a
temporary name and renamed into place.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hbopt import settings
from hbopt.cache.candles import COLUMNS, resample_array, source_interval_for
from hbopt.cache.files import atomic_path, file_lock, write_text_atomic
from hbopt.cache.store import CandleKey, CandleStore, file_checksum
from hbopt.errors import DataError

LOCK_NAME = ".lock"


@dataclass(frozen=True)
class Mirror:
    """A mirror folder and the store it mirrors."""

    root: Path
    store: CandleStore

    @classmethod
    def default(cls) -> Mirror:
        return cls(settings.mirror_dir(), CandleStore())

    def _array_path(self, key: CandleKey) -> Path:
        return self.root / f"{key.stem}.npy"

    def _sidecar_path(self, key: CandleKey) -> Path:
        return self.root / f"{key.stem}.json"

    def _lock(self, shared: bool):
        return file_lock(self.root / LOCK_NAME, shared=shared, what=f"mirror {self.root}")

    def _sidecar(self, key: CandleKey) -> dict | None:
        try:
            return json.loads(self._sidecar_path(key).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def mirrored_keys(self) -> list[CandleKey]:
        if not self.root.is_dir():
            return []
        return sorted(k for k in (CandleKey.from_stem(p.stem) for p in self.root.glob("*.json")) if k)

    def _state(self, key: CandleKey, side: dict | None) -> str:
        """The state of a stored file's mirror copy (see :meth:`status`)."""
        array = self._array_path(key)
        if self.store.read_error(key):
            return "unreadable"
        if side is None or not array.is_file():
            return "missing"
        if "sha256" not in side or side["source_checksum"] != file_checksum(self.store.path(key)):
            return "stale"  # the store file changed, or the sidecar predates array checksums
        if array.stat().st_size != side["bytes"] or file_checksum(array) != side["sha256"]:
            return "corrupt"
        return "fresh"

    def status(self) -> list[dict]:
        """Each store or mirror file with its state: ``fresh``, ``stale``, ``missing`` (in the
        store, not mirrored), ``corrupt`` (the array's size or SHA-256 differs from its sidecar),
        ``unreadable`` (the store file's parquet footer cannot be read; the row has an ``error``)
        or ``orphan`` (mirrored, gone from the store)."""
        stored = set(self.store.keys())
        rows = []
        for key in sorted(stored | set(self.mirrored_keys())):
            side = self._sidecar(key)
            state = self._state(key, side) if key in stored else "orphan"
            row = {"file": key.stem, "connector": key.connector, "pair": key.pair, "interval": key.interval,
                   "state": state}
            if state == "unreadable":
                row["error"] = self.store.read_error(key)
            elif side:
                row.update({k: side[k] for k in ("rows", "first", "last", "mirrored_at", "source_checksum")})
            rows.append(row)
        return rows

    def refresh(self) -> dict:
        """Bring the mirror in line with the store, copying what changed or is corrupt.

        Returns ``{"copied": [...], "unchanged": [...], "removed": [...], "failed": {stem: error}}``.
        A store file that cannot be read is reported under ``failed`` and its mirror copy removed
        (stale candles are never served); every other file is still mirrored.
        Concurrent refreshes serialise on the lock; the later one finds nothing to do.
        """
        report = {"copied": [], "unchanged": [], "removed": [], "failed": {}}
        with self._lock(shared=False):
            stored = self.store.keys()
            for key in stored:
                if self._state(key, self._sidecar(key)) == "fresh":
                    report["unchanged"].append(key.stem)
                    continue
                try:
                    self._copy(key)
                    report["copied"].append(key.stem)
                except DataError as exc:
                    self._remove(key)
                    report["failed"][key.stem] = str(exc)
            for key in set(self.mirrored_keys()) - set(stored):
                self._remove(key)
                report["removed"].append(key.stem)
        return report

    def _copy(self, key: CandleKey) -> None:
        checksum = file_checksum(self.store.path(key))
        arr = np.ascontiguousarray(self.store.read(key).to_numpy(dtype="float64"))
        with atomic_path(self._array_path(key)) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
            size, sha256 = tmp.stat().st_size, file_checksum(tmp)
        sidecar = {
            "columns": list(COLUMNS), "rows": int(arr.shape[0]),
            "first": int(arr[0, 0]) if len(arr) else None, "last": int(arr[-1, 0]) if len(arr) else None,
            "bytes": size, "sha256": sha256,
            "source": self.store.path(key).name, "source_checksum": checksum,
            "mirrored_at": int(time.time()),
        }
        write_text_atomic(self._sidecar_path(key), json.dumps(sidecar, indent=1))

    def _remove(self, key: CandleKey) -> None:
        for path in (self._sidecar_path(key), self._array_path(key)):
            path.unlink(missing_ok=True)

    def clear(self) -> list[str]:
        """Remove every mirrored file; returns their stems."""
        with self._lock(shared=False):
            keys = self.mirrored_keys()
            for key in keys:
                self._remove(key)
        return [k.stem for k in keys]

    def is_fresh(self) -> bool:
        return all(row["state"] == "fresh" for row in self.status())

    def intervals(self, connector: str, pair: str) -> list[str]:
        return [k.interval for k in self.mirrored_keys() if (k.connector, k.pair) == (connector, pair)]

    def load(self, connector: str, pair: str, interval: str) -> np.ndarray:
        """Read-only candle array at ``interval``: memory-mapped when mirrored at that interval,
        otherwise resampled from the coarsest finer mirrored interval that divides it.

        :class:`DataError` if there is none (naming the store file when it is there but cannot
        be read) or the mirror file does not match its sidecar's size and shape (checking the
        SHA-256 is left to :meth:`status` and :meth:`refresh`)."""
        source = source_interval_for(self.intervals(connector, pair), interval)
        if source is None:
            raise self._why_unmirrored(connector, pair, interval)
        key = CandleKey(connector, pair, source)
        path = self._array_path(key)
        with self._lock(shared=True):
            side = self._sidecar(key) or {}
            try:
                size = path.stat().st_size
                if size != side.get("bytes"):
                    raise ValueError(f"{size} bytes where its sidecar records {side.get('bytes')}")
                arr = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise DataError(f"mirror file {path} is damaged ({exc}); run 'hbopt mirror refresh'") from None
        if arr.shape != (side.get("rows"), len(COLUMNS)):
            raise DataError(f"mirror file {path} has shape {arr.shape}, its sidecar says "
                            f"({side.get('rows')}, {len(COLUMNS)}); run 'hbopt mirror refresh'")
        return arr if source == interval else resample_array(np.asarray(arr), source, interval)

    def _why_unmirrored(self, connector: str, pair: str, interval: str) -> DataError:
        """The error for a series the mirror cannot serve: the store file it would come from
        cannot be read, is not mirrored yet, or there is none."""
        stored = [k.interval for k in self.store.keys() if (k.connector, k.pair) == (connector, pair)]
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
