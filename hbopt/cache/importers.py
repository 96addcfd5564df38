"""Reading candle files in the layouts users bring, into raw frames for :func:`normalise`.

Understood layouts:
- Hummingbot's candle columns (CSV or parquet), timestamps in s, ms, µs or ns;
- CryptoDataDownload CSV: a banner line, newest row first, ``Unix,Date,Symbol,Open,High,Low,Close,
  Volume BTC,Volume USDT,tradecount`` (unix in ms or s), or the legacy hourly
  ``Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USD`` with dates like ``2019-10-17 09-AM``;
- Binance kline dumps (``BTCUSDT-1m-*.csv``), with or without a header line.

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
import re
import time
from pathlib import Path

import pandas as pd

from hbopt.cache import funding
from hbopt.cache.candles import COLUMNS, normalise
from hbopt.cache.store import CandleKey, CandleStore
from hbopt.errors import DataError

_BINANCE_KLINE_COLUMNS = (
    "timestamp", "open", "high", "low", "close", "volume", "close_time", "quote_asset_volume",
    "n_trades", "taker_buy_base_volume", "taker_buy_quote_volume", "ignore",
)
_ALIASES = {
    "unix": "timestamp", "unix_timestamp": "timestamp", "open_time": "timestamp", "time": "timestamp",
    "quote_volume": "quote_asset_volume", "count": "n_trades", "tradecount": "n_trades",
    "taker_buy_volume": "taker_buy_base_volume",
}


_FUNDING_HEADERLESS = {3: ("timestamp", "funding_interval_hours", "rate"), 2: ("timestamp", "rate")}
_FUNDING_ALIASES = {"calctime": "timestamp", "fundingtime": "timestamp", "fundingratetimestamp": "timestamp",
                    "time": "timestamp", "timestamp": "timestamp",
                    "lastfundingrate": "rate", "fundingrate": "rate", "rate": "rate"}


def _read_table(path: Path, read_csv) -> pd.DataFrame:
    """The raw frame of a parquet file, or of a CSV by ``read_csv``; a :class:`DataError` saying
    why it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    try:
        return pd.read_parquet(path) if path.suffix.lower() == ".parquet" else read_csv(path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read {path.name}: {exc}") from None


def read_candle_file(path: Path, pair: str) -> pd.DataFrame:
    """A raw frame with (some of) Hummingbot's candle columns from a CSV or parquet file.

    ``pair`` (``BASE-QUOTE``) tells which of the ``Volume X`` columns is which.
    """
    return _rename_columns(_read_table(path, _read_csv), pair)


def read_funding_file(path: Path) -> pd.DataFrame:
    """A raw frame with ``timestamp`` and ``rate`` columns from a funding-rate CSV or parquet file."""
    raw = _read_table(path, _read_funding_csv)
    names = {col: re.sub(r"[\s_]+", "", str(col).strip().lower()) for col in raw.columns}
    renames = {col: _FUNDING_ALIASES[name] for col, name in names.items() if name in _FUNDING_ALIASES}
    df = raw[list(renames)].rename(columns=renames)
    return df.loc[:, ~df.columns.duplicated()]


def _read_funding_csv(path: Path) -> pd.DataFrame:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        first = next(csv.reader([fh.readline()]), [])
    if not first:
        raise DataError(f"{path.name} is empty")
    if not _is_number(first[0]):
        return pd.read_csv(path, encoding="utf-8-sig")
    if len(first) not in _FUNDING_HEADERLESS:
        raise DataError(f"{path.name}: a header-less funding CSV must be Binance's calc_time,funding_interval_hours,"
                        f"last_funding_rate or timestamp,rate; found {len(first)} columns")
    return pd.read_csv(path, header=None, names=list(_FUNDING_HEADERLESS[len(first)]))


def _read_csv(path: Path) -> pd.DataFrame:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        lines = [line for _, line in zip(range(2), fh)]
    if not lines:
        raise DataError(f"{path.name} is empty")
    first = next(csv.reader([lines[0]]))
    skip = 0
    if len(first) < 5:  # a banner line such as CryptoDataDownload's
        skip = 1
        first = next(csv.reader([lines[1]])) if len(lines) > 1 else []
    if first and _is_number(first[0]):  # no header: Binance kline dump
        if len(first) != len(_BINANCE_KLINE_COLUMNS):
            raise DataError(f"{path.name}: a header-less CSV must be a Binance kline dump of "
                            f"{len(_BINANCE_KLINE_COLUMNS)} columns, found {len(first)}")
        return pd.read_csv(path, skiprows=skip, header=None, names=list(_BINANCE_KLINE_COLUMNS))
    return pd.read_csv(path, skiprows=skip, encoding="utf-8-sig")


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


def import_file(path: Path, key: CandleKey, repair: bool = False, replace: bool = False,
                store: CandleStore | None = None, force: bool = False) -> dict:
    """Validate a candle file and merge it into the store (or replace the stored file); see
    :func:`normalise` for ``repair`` and ``force``.

    Returns the normalisation report plus the stored file's name and its row count after the merge.
    """
    raw = read_candle_file(path, key.pair)
    df, report = normalise(raw, key.interval, repair=repair, force=force)
    store = store or CandleStore()
    stored = store.add(key, df, {"source": f"import:{Path(path).name}", "synthetic": False,
                                 "updated_at": int(time.time())}, replace=replace)
    return {**report.to_dict(), "file": key.stem, "stored_rows": len(stored)}


def import_funding(path: Path, connector: str, pair: str, replace: bool = False,
                   store: CandleStore | None = None) -> dict:
    """Validate a funding-rate file of a perpetual pair and merge it into the store (or replace
    the stored series). Returns the normalisation report plus the stored file's name and its row
    count after the merge."""
    key = CandleKey(connector, pair, funding.FUNDING)
    if not funding.is_perpetual(connector):
        raise DataError(f"{connector} is not a perpetual connector (*_perpetual): spot pairs pay no funding")
    df, report = funding.normalise(read_funding_file(path))
    stored = (store or CandleStore()).add(key, df, {"source": f"import:{Path(path).name}", "synthetic": False,
                                                    "updated_at": int(time.time())}, replace=replace)
    return {**report, "file": key.stem, "stored_rows": len(stored)}
