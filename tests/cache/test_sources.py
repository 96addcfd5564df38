"""``hbopt data import`` takes files as exchanges publish them: Binance's monthly zips with their
``.CHECKSUM``, folders and globs of them merged in one write, Kraken's header-less OHLCVT."""
import hashlib
import json
import zipfile

import pandas as pd
import pytest

from hbopt.cache import synth
from hbopt.cache.candles import COLUMNS
from hbopt.cache.importers import import_file, import_funding
from hbopt.cache.store import CandleKey
from hbopt.errors import DataError

KEY = CandleKey("binance", "BTC-USDT", "1m")
FUTURES_HEADER = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
                  "taker_buy_volume", "taker_buy_quote_volume", "ignore"]  # Binance's futures dumps
IMPORT = ["--connector", "binance", "--pair", "BTC-USDT", "--interval", "1m"]


@pytest.fixture
def candles():
    return synth.generate(3, "1m", seed=8)


def binance_rows(df: pd.DataFrame, per_second: int = 1_000_000) -> pd.DataFrame:
    """``df`` as Binance's kline dump lays it out (µs timestamps, as its spot dumps use since 2025)."""
    return pd.DataFrame({
        0: (df["timestamp"] * per_second).astype("int64"), 1: df["open"], 2: df["high"], 3: df["low"],
        4: df["close"], 5: df["volume"], 6: ((df["timestamp"] + 60) * per_second - 1).astype("int64"),
        7: df["quote_asset_volume"], 8: df["n_trades"].astype("int64"), 9: df["taker_buy_base_volume"],
        10: df["taker_buy_quote_volume"], 11: 0})


def binance_zip(folder, name: str, rows: pd.DataFrame, checksum: bool = True, header: bool = False):
    """``folder/NAME.zip`` holding ``NAME.csv`` (with Binance's futures header line, or ``header``:
    none or the frame's own), and its ``.CHECKSUM`` as Binance publishes it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.csv", rows.to_csv(index=False, header=(FUTURES_HEADER if header is True else header)))
    if checksum:
        (folder / f"{name}.zip.CHECKSUM").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {name}.zip\n")
    return path


def months(candles, folder, **options):
    """The candles cut in three 'monthly' zips, one a day."""
    days = [candles.iloc[i * 1440:(i + 1) * 1440] for i in range(3)]
    return [binance_zip(folder, f"BTCUSDT-1m-2025-0{i + 1}", binance_rows(day), **options)
            for i, day in enumerate(days)]


def test_a_folder_of_binance_zips_is_verified_and_stored_in_one_write(tmp_path, store, candles, hbopt):
    months(candles, tmp_path / "BTCUSDT")
    run = hbopt("data", "import", tmp_path / "BTCUSDT", *IMPORT, "--json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert [p.rsplit("/", 1)[1] for p in report["files"]] == [f"BTCUSDT-1m-2025-0{i}.zip" for i in (1, 2, 3)]
    assert report["rows"] == report["stored_rows"] == 3 * 1440 and report["converted_from_ms"] == 3 * 1440
    pd.testing.assert_frame_equal(store.read(KEY), candles[list(COLUMNS)], check_exact=False, rtol=1e-12)


def test_a_glob_and_a_header_line_read_the_same(tmp_path, store, candles, hbopt):
    months(candles, tmp_path / "dumps", header=True)  # futures dumps carry a header line
    run = hbopt("data", "import", str(tmp_path / "dumps" / "BTCUSDT-1m-2025-0[12].zip"), *IMPORT)
    assert run.code == 0, run.err
    assert "imported 2880 candles from 2 files" in run.out
    assert store.read(KEY)["timestamp"].tolist() == candles["timestamp"].tolist()[:2880]


def test_a_zip_that_does_not_match_its_checksum_stores_nothing(tmp_path, store, candles, hbopt):
    first, damaged, _ = months(candles, tmp_path / "BTCUSDT")
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    run = hbopt("data", "import", tmp_path / "BTCUSDT", *IMPORT)
    assert run.code == 3 and "BTCUSDT-1m-2025-02.zip: its SHA-256 is" in run.err and "nothing was stored" in run.err
    assert not store.exists(KEY)
    assert hbopt("data", "import", first, *IMPORT).code == 0  # a good month alone is fine


def test_a_zip_without_a_checksum_is_read_and_one_not_holding_one_table_is_refused(tmp_path, store, candles):
    [path, *_] = months(candles, tmp_path / "plain", checksum=False)
    assert import_file(path, KEY, store=store)["rows"] == 1440
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "x")
        archive.writestr("b.csv", "y")
    with pytest.raises(DataError, match="two.zip: a zip must hold one CSV or parquet file, not a.csv, b.csv"):
        import_file(two, KEY, store=store)
    (tmp_path / "torn.zip").write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="cannot read torn.zip: not a whole zip"):
        import_file(tmp_path / "torn.zip", KEY, store=store)


def test_krakens_ohlcvt_download_imports(tmp_path, store, candles):
    """Kraken's OHLCVT files: no header, timestamp (s), open, high, low, close, volume, trades."""
    path = tmp_path / "XBTUSD_1.csv"
    candles[["timestamp", "open", "high", "low", "close", "volume", "n_trades"]].to_csv(path, index=False, header=False)
    import_file(path, KEY, store=store)
    stored = store.read(KEY)
    assert stored["close"].tolist() == pytest.approx(candles["close"].tolist(), rel=1e-12)
    assert stored["n_trades"].tolist() == candles["n_trades"].tolist()


def test_names_that_match_nothing_are_data_errors(tmp_path, store):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no \\*.csv, \\*.zip, \\*.parquet file in this folder"):
        import_file(tmp_path / "empty", KEY, store=store)
    with pytest.raises(DataError, match="no file matches"):
        import_file(str(tmp_path / "*.zip"), KEY, store=store)


def test_funding_dumps_come_as_zips_and_folders_too(tmp_path, store):
    folder = tmp_path / "funding"
    t0 = 1_735_689_600
    for month in (0, 1):
        rows = pd.DataFrame({"calc_time": [(t0 + (2 * month + k) * 28800) * 1000 for k in (0, 1)],
                             "funding_interval_hours": 8, "last_funding_rate": [0.0001, -0.00005]})
        binance_zip(folder, f"BTCUSDT-fundingRate-2025-0{month + 1}", rows, header=list(rows.columns))
    report = import_funding(folder, "binance_perpetual", "BTC-USDT", store=store)
    assert report["rows"] == 4 and len(report["files"]) == 2
    stored = store.read(CandleKey("binance_perpetual", "BTC-USDT", "funding"))
    assert stored["timestamp"].tolist() == [t0 + k * 28800 for k in range(4)]
