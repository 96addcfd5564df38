"""The mirror: the candle store copied to ``$HBOPT_MIRROR_DIR`` as memory-mappable arrays.

Each store file ``X.parquet`` becomes ``X.npy`` (float64, rows x the ten candle columns) plus
``X.json``, a sidecar with the columns, row count, first/last timestamp and the checksum of the
store file it was made from. Writers (refresh, clear) hold an exclusive lock on ``.lock`` in the
mirror folder; readers hold a shared one while they open a file, so a reader never pairs a new
sidecar with an old array. Every file is written to a temporary name and renamed into place.
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

    def status(self) -> list[dict]:
        """Each store or mirror file with its state: ``fresh``, ``stale``, ``missing`` (in the
        store, not mirrored) or ``orphan`` (mirrored, gone from the store)."""
        stored = set(self.store.keys())
        rows = []
        for key in sorted(stored | set(self.mirrored_keys())):
            side = self._sidecar(key)
            if key not in stored:
                state = "orphan"
            elif side is None or not self._array_path(key).is_file():
                state = "missing"
            elif side["source_checksum"] != file_checksum(self.store.path(key)):
                state = "stale"
            else:
                state = "fresh"
            row = {"file": key.stem, "connector": key.connector, "pair": key.pair, "interval": key.interval,
                   "state": state}
            if side:
                row.update({k: side[k] for k in ("rows", "first", "last", "mirrored_at", "source_checksum")})
            rows.append(row)
        return rows

    def refresh(self) -> dict:
        """Bring the mirror in line with the store, copying only what changed.

        Returns ``{"copied": [...], "unchanged": [...], "removed": [...]}`` (file stems).
        Concurrent refreshes serialise on the lock; the later one finds nothing to do.
        """
        report = {"copied": [], "unchanged": [], "removed": []}
        with self._lock(shared=False):
            stored = self.store.keys()
            for key in stored:
                checksum = file_checksum(self.store.path(key))
                side = self._sidecar(key)
                if side and side["source_checksum"] == checksum and self._array_path(key).is_file():
                    report["unchanged"].append(key.stem)
                    continue
                self._copy(key, checksum)
                report["copied"].append(key.stem)
            for key in set(self.mirrored_keys()) - set(stored):
                self._remove(key)
                report["removed"].append(key.stem)
        return report

    def _copy(self, key: CandleKey, checksum: str) -> None:
        arr = np.ascontiguousarray(self.store.read(key).to_numpy(dtype="float64"))
        with atomic_path(self._array_path(key)) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        sidecar = {
            "columns": list(COLUMNS), "rows": int(arr.shape[0]),
            "first": int(arr[0, 0]) if len(arr) else None, "last": int(arr[-1, 0]) if len(arr) else None,
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
        otherwise resampled from the coarsest finer mirrored interval that divides it."""
        source = source_interval_for(self.intervals(connector, pair), interval)
        if source is None:
            have = ", ".join(self.intervals(connector, pair)) or "none"
            raise DataError(
                f"no candles for {connector} {pair} at {interval} or a finer interval dividing it "
                f"(mirrored intervals: {have}); import or fetch them, then 'hbopt mirror refresh'"
            )
        key = CandleKey(connector, pair, source)
        with self._lock(shared=True):
            arr = np.load(self._array_path(key), mmap_mode="r")
        if arr.ndim != 2 or arr.shape[1] != len(COLUMNS):
            raise DataError(f"mirror file {key.stem}.npy has shape {arr.shape}; run 'hbopt mirror refresh'")
        return arr if source == interval else resample_array(np.asarray(arr), source, interval)
