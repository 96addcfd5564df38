"""The candle store: one parquet file per (connector, trading pair, interval), and per perpetual
pair one of its funding rates (the interval ``funding``, :mod:`hbopt.cache.funding`).

Files are named ``{connector}|{pair}|{interval}.parquet`` (the quants-lab cache name) and carry a
small JSON metadata record (source, synthetic flag, ...) in the parquet schema metadata.
Every write goes to a temporary file in the same folder and is renamed into place; writers of
one file take turns on its lock file ``.{stem}.lock`` beside it, so none loses another's rows.
What is written is checked first (:func:`hbopt.cache.candles.check_frame`): hbopt never stores a
candle it would refuse to import. Files are opened by Python and handed to parquet as open files,
so a pair's name reads the same whatever the locale's encoding.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import glob
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hbopt import settings
from hbopt.cache import funding
from hbopt.cache.candles import COLUMNS, INTERVAL_SECONDS, check_frame, interval_seconds, merge
from hbopt.files import atomic_path, file_lock, home_folder
from hbopt.errors import ConfigError, DataError

SUFFIX = ".parquet"
_META_KEY = b"hbopt"


@dataclass(frozen=True, order=True)
class CandleKey:
    """Identifies one stored series: Hummingbot connector name, trading pair and interval (of
    candles, or ``funding`` for the pair's funding rates)."""

    connector: str
    pair: str
    interval: str

    def __post_init__(self):
        if not self.is_funding:
            interval_seconds(self.interval)
        for name in ("connector", "pair"):
            value = getattr(self, name)
            if not value or "|" in value or "/" in value:
                raise ConfigError(f"invalid {name} {value!r}")
        if "-" not in self.pair:
            raise ConfigError(f"invalid trading pair {self.pair!r}; Hummingbot writes pairs as BASE-QUOTE, e.g. BTC-USDT")

    @property
    def is_funding(self) -> bool:
        return self.interval == funding.FUNDING

    @property
    def columns(self) -> tuple[str, ...]:
        """The series' columns: the ten candle columns, or a funding series' two."""
        return funding.COLUMNS if self.is_funding else COLUMNS

    def check(self, df: pd.DataFrame) -> None:
        """A :class:`DataError` naming the first row of ``df`` this series would refuse to store."""
        if self.is_funding:
            funding.check_frame(df, str(self))
        else:
            check_frame(df, self.interval, str(self))

    @property
    def stem(self) -> str:
        return f"{self.connector}|{self.pair}|{self.interval}"

    @classmethod
    def from_stem(cls, stem: str) -> CandleKey | None:
        """The key a file stem names, or ``None`` if it names none."""
        parts = stem.split("|")
        if len(parts) != 3 or parts[2] not in (*INTERVAL_SECONDS, funding.FUNDING):
            return None
        try:
            return cls(*parts)
        except ConfigError:
            return None

    def __str__(self) -> str:
        return f"{self.connector} {self.pair} {self.interval}"


def keys_in(folder: Path, suffix: str, pair: tuple[str, str] | None = None) -> list[CandleKey]:
    """The keys the ``*SUFFIX`` files of ``folder`` are named after, sorted; with ``pair``
    (connector, pair), that pair's only."""
    pattern = f"{glob.escape(pair[0])}|{glob.escape(pair[1])}|*" if pair else "*"
    found = (CandleKey.from_stem(p.name[: -len(suffix)]) for p in folder.glob(pattern + suffix))
    return sorted(k for k in found if k)


def file_checksum(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    with open(path, "rb") as fh:
        return _checksum(fh)


def _checksum(fh) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def file_identity(st: os.stat_result) -> dict:
    """What changes whenever a file is replaced or written: its size, inode and modification time."""
    return {"bytes": st.st_size, "inode": st.st_ino, "mtime_ns": st.st_mtime_ns}


class CandleStore:
    """Parquet candle files in one folder (default ``$HBOPT_HOME/candles``)."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else settings.store_dir()

    def _folder(self, create: bool) -> Path:
        """The store folder, checked to be this user's own (created when ``create``)."""
        return home_folder(self.root, "candle store", create=create)

    def path(self, key: CandleKey) -> Path:
        return self.root / f"{key.stem}{SUFFIX}"

    def keys(self, pair: tuple[str, str] | None = None) -> list[CandleKey]:
        """The stored series, sorted; with ``pair`` (connector, pair), that pair's only (found by
        their names, not by listing every file of a large store)."""
        if not self._folder(create=False).is_dir():
            return []
        return keys_in(self.root, SUFFIX, pair)

    def pairs(self, connector: str) -> list[str]:
        """The pairs stored for ``connector``, sorted."""
        return sorted({k.pair for k in self.keys() if k.connector == connector})

    def exists(self, key: CandleKey) -> bool:
        return self.path(key).is_file()

    @contextlib.contextmanager
    def _open(self, key: CandleKey):
        """The stored file, open for reading; :class:`DataError` if there is none or it cannot be opened."""
        path = self.path(key)
        self._folder(create=False)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            raise DataError(f"no candles stored for {key}; see 'hbopt data list'") from None
        except OSError as exc:
            raise _unreadable(path, exc) from None
        with fh:
            yield fh

    def _parsed(self, key: CandleKey, parse):
        """``parse(open file)``; anything it raises is the file's :class:`DataError`."""
        with self._open(key) as fh:
            try:
                return parse(fh)
            except Exception as exc:
                raise _unreadable(self.path(key), exc) from None

    def read(self, key: CandleKey, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
        """The stored frame (only ``columns``, if given); :class:`DataError` if there is none or
        it is unreadable."""
        return self._parsed(key, lambda fh: pd.read_parquet(fh, columns=list(columns or key.columns)))

    def snapshot(self, key: CandleKey) -> tuple[pd.DataFrame, dict]:
        """The stored frame and the file it was read from: :func:`file_identity` plus its
        ``sha256``, all of one open file, so they agree even while a writer replaces it."""
        def parse(fh):
            identity = {**file_identity(os.fstat(fh.fileno())), "sha256": _checksum(fh)}
            fh.seek(0)
            return pd.read_parquet(fh, columns=list(key.columns)), identity
        return self._parsed(key, parse)

    def identity(self, key: CandleKey) -> dict | None:
        """:func:`file_identity` of the stored file (``None`` if there is none)."""
        try:
            return file_identity(os.stat(self.path(key)))
        except FileNotFoundError:
            return None

    def read_error(self, key: CandleKey) -> str | None:
        """Why the stored file's parquet footer cannot be read (a cheap check that catches a
        truncated or overwritten file, not every damaged page), or ``None``."""
        try:
            self._parsed(key, pq.read_metadata)
        except DataError as exc:
            return str(exc)
        return None

    def metadata(self, key: CandleKey) -> dict:
        """The JSON metadata record written with the file (empty if none)."""
        return self._parsed(key, lambda fh: _metadata(pq.read_schema(fh)))

    def _lock(self, key: CandleKey):
        return file_lock(self.root / f".{key.stem}.lock", what=f"store file {key.stem}")

    def _write(self, key: CandleKey, df: pd.DataFrame, metadata: dict) -> Path:
        """Replace the stored file atomically with ``df`` and ``metadata`` (the caller holds its
        lock); a :class:`DataError` naming the first invalid candle, writing nothing, if there is one."""
        key.check(df)
        table = pa.Table.from_pandas(df[list(key.columns)].astype("float64"), preserve_index=False)
        schema_meta = dict(table.schema.metadata or {})
        schema_meta[_META_KEY] = json.dumps(metadata, sort_keys=True).encode()
        table = table.replace_schema_metadata(schema_meta)
        path = self.path(key)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            pq.write_table(table, fh)
        return path

    def add(self, key: CandleKey, df: pd.DataFrame, metadata: dict, replace: bool = False) -> pd.DataFrame:
        """Merge ``df`` into the stored file (its rows win on equal timestamps), or replace the
        file when ``replace``. Synthetic and real candles are never mixed in one file.
        Reads, merges and writes under the file's lock, waiting for other writers.
        Returns the frame now stored."""
        self._folder(create=True)
        with self._lock(key):
            if self.exists(key) and not replace:
                if bool(self.metadata(key).get("synthetic")) != bool(metadata.get("synthetic")):
                    kinds = ("real", "synthetic") if metadata.get("synthetic") else ("synthetic", "real")
                    raise DataError(f"{key.stem} holds {kinds[1]} candles; refusing to mix in {kinds[0]} ones "
                                    f"(pass --replace to overwrite it)")
                df = merge(self.read(key), df)
            self._write(key, df, metadata)
        return df

    def info(self, key: CandleKey) -> dict:
        """Row count, time span and metadata of a stored file, reading only its timestamps;
        :class:`DataError` if it is unreadable."""
        path = self.path(key)

        def parse(fh):
            pf = pq.ParquetFile(fh)
            return pf.metadata.num_rows, pf.read(columns=["timestamp"]).column(0), _metadata(pf.schema_arrow)
        rows, ts, meta = self._parsed(key, parse)
        first, last = (int(ts[0].as_py()), int(ts[-1].as_py())) if len(ts) else (None, None)
        return {
            "connector": key.connector, "pair": key.pair, "interval": key.interval,
            "rows": rows, "first": first, "last": last,
            "source": meta.get("source", "unknown"), "synthetic": bool(meta.get("synthetic", False)),
            "bytes": path.stat().st_size, "file": path.name,
        }

    def infos(self) -> list[dict]:
        """:meth:`info` of every stored file; an unreadable one gets its key, file name and
        ``error`` instead, so one damaged file hides none of the others."""
        rows = []
        for key in self.keys():
            try:
                rows.append(self.info(key))
            except DataError as exc:
                rows.append({"connector": key.connector, "pair": key.pair, "interval": key.interval,
                             "file": self.path(key).name, "error": str(exc)})
        return rows


def _metadata(schema: pa.Schema) -> dict:
    raw = (schema.metadata or {}).get(_META_KEY)
    return json.loads(raw) if raw else {}


def _unreadable(path: Path, exc: Exception) -> DataError:
    """The one-line error for a store file that cannot be read."""
    reason = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
    return DataError(f"cannot read {path.name}: {reason}")
