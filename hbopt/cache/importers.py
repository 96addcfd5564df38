"""Reading candle files in the layouts users bring, into raw frames for :func:`normalise`.

Understood layouts:
- Hummingbot's candle columns (CSV or parquet), timestamps in s or ms;
- CryptoDataDownload CSV: a banner line, ``unix,date,symbol,open,high,low,close,Volume BASE,
  Volume QUOTE[,tradecount]``, newest row first;
- Binance kline dumps (``BTCUSDT-1m-*.csv``), with or without a header line.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

import pandas as pd

from hbopt.cache.candles import COLUMNS, normalise
from hbopt.cache.store import CandleKey, CandleStore
from hbopt.errors import DataError

_BINANCE_KLINE_COLUMNS = (
    "timestamp", "open", "high", "low", "close", "volume", "close_time", "quote_asset_volume",
    "n_trades", "taker_buy_base_volume", "taker_buy_quote_volume", "ignore",
)
_ALIASES = {
    "unix": "timestamp", "open_time": "timestamp", "time": "timestamp", "date": "date",
    "quote_volume": "quote_asset_volume", "count": "n_trades", "tradecount": "n_trades",
    "taker_buy_volume": "taker_buy_base_volume",
}


def read_candle_file(path: Path, pair: str) -> pd.DataFrame:
    """A raw frame with (some of) Hummingbot's candle columns from a CSV or parquet file.

    ``pair`` (``BASE-QUOTE``) tells which of CryptoDataDownload's ``Volume X`` columns is which.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    try:
        if path.suffix.lower() == ".parquet":
            raw = pd.read_parquet(path)
        else:
            raw = _read_csv(path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read {path.name}: {exc}") from None
    return _rename_columns(raw, pair)


def _read_csv(path: Path) -> pd.DataFrame:
    with open(path, newline="") as fh:
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
    return pd.read_csv(path, skiprows=skip)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _rename_columns(raw: pd.DataFrame, pair: str) -> pd.DataFrame:
    base, _, quote = pair.upper().partition("-")
    renames = {}
    for col in raw.columns:
        name = str(col).strip()
        low = name.lower()
        if low in COLUMNS:
            renames[col] = low
        elif low in _ALIASES:
            renames[col] = _ALIASES[low]
        elif low.startswith("volume "):
            asset = name[len("volume "):].strip().upper()
            if asset == base:
                renames[col] = "volume"
            elif asset == quote:
                renames[col] = "quote_asset_volume"
    df = raw.rename(columns=renames)
    df = df.loc[:, ~df.columns.duplicated()]
    if "timestamp" not in df.columns and "date" in df.columns:
        stamps = pd.to_datetime(df["date"], utc=True, errors="coerce")
        df["timestamp"] = stamps.astype("int64") // 10**9
        df.loc[stamps.isna(), "timestamp"] = float("nan")
    return df


def import_file(path: Path, key: CandleKey, repair: bool = False, replace: bool = False,
                store: CandleStore | None = None) -> dict:
    """Validate a candle file and merge it into the store (or replace the stored file).

    Returns the normalisation report plus the stored file's name and final row count.
    """
    raw = read_candle_file(path, key.pair)
    df, report = normalise(raw, key.interval, repair=repair)
    store = store or CandleStore()
    stored = store.add(key, df, {"source": f"import:{Path(path).name}", "synthetic": False,
                                 "updated_at": int(time.time())}, replace=replace)
    return {**report.to_dict(), "file": key.stem, "stored_rows": len(stored)}
