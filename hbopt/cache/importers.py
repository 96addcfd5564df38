"""Reading candle files in the layouts users bring, into raw frames for :func:`normalise`.

Understood layouts:
- Hummingbot's candle columns (CSV or parquet), timestamps in s, ms, µs or ns;
- CryptoDataDownload CSV: a banner line, newest row first, ``Unix,Date,Symbol,Open,High,Low,Close,
  Volume BTC,Volume USDT,tradecount`` (unix in ms or s), or the legacy hourly
  ``Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USD`` with dates like ``2019-10-17 09-AM``;
- Binance kline dumps (``BTCUSDT-1m-*.csv``, spot and futures, ms or µs timestamps), with or
  without a header line, as CSV or as the zip Binance publishes;
- Kraken's header-less OHLCVT (``timestamp,open,high,low,close,volume,trades``, in s).

Any of them may come as a zip holding the one file (its ``.CHECKSUM`` verified when one lies
beside it), and many at once: :func:`import_file` takes several files, folders or globs and
stores them in one write (:mod:`hbopt.cache.sources`).

Funding-rate files (:func:`import_funding`): Binance's dumps (``calc_time,funding_interval_hours,
last_funding_rate``), Binance's and Bybit's REST fields (``fundingTime``/``fundingRateTimestamp``,
``fundingRate``), or a plain ``timestamp,funding_rate`` (or ``rate``) CSV; a header-less CSV is
read as Binance's three columns, or as ``timestamp,rate`` when it has two.

Volume columns: ``Volume X`` / ``volume_x`` is the base volume when X is the pair's base and the
quote volume when X is its quote; a bare ``volume`` is the quote volume beside a base-volume
column, the base volume otherwise.
"""
from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

import pandas as pd

from hbopt.cache import funding
from hbopt.cache.candles import COLUMNS, normalise
from hbopt.cache.sources import Source, expand, read_source
from hbopt.cache.store import CandleKey, CandleStore
from hbopt.errors import DataError

_HEADERLESS = {  # the header-less candle layouts, by their number of columns
    12: ("Binance kline dump", ("timestamp", "open", "high", "low", "close", "volume", "close_time",
                                "quote_asset_volume", "n_trades", "taker_buy_base_volume", "taker_buy_quote_volume",
                                "ignore")),
    7: ("Kraken OHLCVT file", ("timestamp", "open", "high", "low", "close", "volume", "n_trades")),
}
_ALIASES = {
    "unix": "timestamp", "unix_timestamp": "timestamp", "open_time": "timestamp", "time": "timestamp",
    "quote_volume": "quote_asset_volume", "count": "n_trades", "tradecount": "n_trades",
    "taker_buy_volume": "taker_buy_base_volume",
}


_FUNDING_HEADERLESS = {3: ("timestamp", "funding_interval_hours", "rate"), 2: ("timestamp", "rate")}
_FUNDING_ALIASES = {"calctime": "timestamp", "fundingtime": "timestamp", "fundingratetimestamp": "timestamp",
                    "time": "timestamp", "timestamp": "timestamp",
                    "lastfundingrate": "rate", "fundingrate": "rate", "rate": "rate"}


def _read_table(source: Source, read_csv) -> pd.DataFrame:
    """The raw frame of a parquet source, or of a CSV one by ``read_csv``; a :class:`DataError`
    saying why it cannot be read."""
    try:
        return pd.read_parquet(io.BytesIO(source.data)) if source.parquet else read_csv(source)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read {source.name}: {exc}") from None


def read_candle_file(path: Path, pair: str) -> pd.DataFrame:
    """A raw frame with (some of) Hummingbot's candle columns from a CSV or parquet file, or a zip
    holding one.

    ``pair`` (``BASE-QUOTE``) tells which of the ``Volume X`` columns is which.
    """
    return _rename_columns(_read_table(read_source(path), _read_csv), pair)


def read_funding_file(path: Path) -> pd.DataFrame:
    """A raw frame with ``timestamp`` and ``rate`` columns from a funding-rate CSV or parquet file,
    or a zip holding one."""
    raw = _read_table(read_source(path), _read_funding_csv)
    names = {col: re.sub(r"[\s_]+", "", str(col).strip().lower()) for col in raw.columns}
    renames = {col: _FUNDING_ALIASES[name] for col, name in names.items() if name in _FUNDING_ALIASES}
    df = raw[list(renames)].rename(columns=renames)
    return df.loc[:, ~df.columns.duplicated()]


def _first_lines(source: Source, count: int) -> list[list[str]]:
    text = source.data[:65536].decode("utf-8-sig", errors="replace")
    return [row for row in csv.reader(text.splitlines()[:count]) if row] if text.strip() else []


def _csv(source: Source, **options) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(source.data), encoding="utf-8-sig", **options)


def _read_funding_csv(source: Source) -> pd.DataFrame:
    lines = _first_lines(source, 1)
    if not lines:
        raise DataError(f"{source.name} is empty")
    first = lines[0]
    if not _is_number(first[0]):
        return _csv(source)
    if len(first) not in _FUNDING_HEADERLESS:
        raise DataError(f"{source.name}: a header-less funding CSV must be Binance's calc_time,"
                        f"funding_interval_hours,last_funding_rate or timestamp,rate; found {len(first)} columns")
    return _csv(source, header=None, names=list(_FUNDING_HEADERLESS[len(first)]))


def _read_csv(source: Source) -> pd.DataFrame:
    lines = _first_lines(source, 2)
    if not lines:
        raise DataError(f"{source.name} is empty")
    first, skip = lines[0], 0
    if len(first) < 5:  # a banner line such as CryptoDataDownload's
        skip = 1
        first = lines[1] if len(lines) > 1 else []
    if first and _is_number(first[0]):  # no header: a layout known by its column count
        if len(first) not in _HEADERLESS:
            known = " or ".join(f"a {what} ({n} columns)" for n, (what, _) in _HEADERLESS.items())
            raise DataError(f"{source.name}: a header-less CSV must be {known}, found {len(first)} columns")
        return _csv(source, skiprows=skip, header=None, names=list(_HEADERLESS[len(first)][1]))
    return _csv(source, skiprows=skip)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _rename_columns(raw: pd.DataFrame, pair: str) -> pd.DataFrame:
    base, _, quote = pair.upper().partition("-")
    names = {col: re.sub(r"[\s_]+", "_", str(col).strip().lower()) for col in raw.columns}
    volume_of = {col: name.removeprefix("volume_").upper() for col, name in names.items() if name.startswith("volume_")}
    has_base_volume = base in volume_of.values()
    renames = {}
    for col, name in names.items():
        if col in volume_of:
            renames[col] = {base: "volume", quote: "quote_asset_volume"}.get(volume_of[col])
        elif name == "volume":
            renames[col] = "quote_asset_volume" if has_base_volume else "volume"
        else:
            renames[col] = name if name in COLUMNS else _ALIASES.get(name)
    df = raw[[col for col in raw.columns if renames[col]]].rename(columns=renames)
    df = df.loc[:, ~df.columns.duplicated()]
    if "timestamp" not in df.columns and "date" in names.values():
        df["timestamp"] = raw[next(col for col, name in names.items() if name == "date")]
    return df


def import_file(paths, key: CandleKey, repair: bool = False, replace: bool = False,
                store: CandleStore | None = None, force: bool = False, source: str | None = None) -> dict:
    """Validate candle files and merge them into the store (or replace the stored file) in one
    write; see :func:`normalise` for ``repair`` and ``force``. ``paths``: a file, or several files,
    folders and globs (:func:`hbopt.cache.sources.expand`), every one read and checked before
    anything is stored. ``source``: what the store's metadata says the rows came from (default:
    the files' names).

    Returns the normalisation report plus the files read, the stored file's name and its row
    count after the merge.
    """
    files = expand(_several(paths))
    raw = pd.concat([read_candle_file(path, key.pair) for path in files], ignore_index=True)
    df, report = normalise(raw, key.interval, repair=repair, force=force)
    store = store or CandleStore()
    stored = store.add(key, df, {"source": source or f"import:{_named(files)}", "synthetic": False,
                                 "updated_at": int(time.time())}, replace=replace)
    return {**report.to_dict(), "files": [str(p) for p in files], "file": key.stem, "stored_rows": len(stored)}


def import_funding(paths, connector: str, pair: str, replace: bool = False,
                   store: CandleStore | None = None, source: str | None = None) -> dict:
    """Validate funding-rate files of a perpetual pair (``paths`` as :func:`import_file` takes
    them, ``source`` too) and merge them into the store (or replace the stored series) in one write. Returns the
    normalisation report plus the files read, the stored file's name and its row count after
    the merge."""
    key = CandleKey(connector, pair, funding.FUNDING)
    if not funding.is_perpetual(connector):
        raise DataError(f"{connector} is not a perpetual connector (*_perpetual): spot pairs pay no funding")
    files = expand(_several(paths))
    df, report = funding.normalise(pd.concat([read_funding_file(path) for path in files], ignore_index=True))
    stored = (store or CandleStore()).add(key, df, {"source": source or f"import:{_named(files)}",
                                                    "synthetic": False, "updated_at": int(time.time())}, replace=replace)
    return {**report, "files": [str(p) for p in files], "file": key.stem, "stored_rows": len(stored)}


def _several(paths) -> list:
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def _named(files: list[Path]) -> str:
    """The import's source as the store's metadata keeps it: the file's name, or the first and the count."""
    return files[0].name if len(files) == 1 else f"{files[0].name} and {len(files) - 1} more"
