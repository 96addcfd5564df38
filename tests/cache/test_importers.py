import pandas as pd
import pytest

from hbopt.cache import synth
from hbopt.cache.candles import COLUMNS
from hbopt.cache.importers import import_file
from hbopt.cache.store import CandleKey
from hbopt.errors import DataError

KEY = CandleKey("binance", "BTC-USDT", "1m")


@pytest.fixture
def candles():
    return synth.generate(1, "1m", seed=5)


def test_hummingbot_csv_round_trips(tmp_path, store, candles):
    path = tmp_path / "candles.csv"
    candles.to_csv(path, index=False)
    report = import_file(path, KEY, store=store)
    assert report["rows"] == len(candles) and report["gaps"] == 0
    pd.testing.assert_frame_equal(store.read(KEY), candles[list(COLUMNS)])


def test_cryptodatadownload_csv_with_banner_newest_first_and_ms_timestamps(tmp_path, store, candles):
    cdd = pd.DataFrame({
        "unix": (candles["timestamp"] * 1000).astype("int64"),
        "date": pd.to_datetime(candles["timestamp"], unit="s").dt.strftime("%Y-%m-%d %H:%M:%S"),
        "symbol": "BTC/USDT", "open": candles["open"], "high": candles["high"], "low": candles["low"],
        "close": candles["close"], "Volume BTC": candles["volume"], "Volume USDT": candles["quote_asset_volume"],
        "tradecount": candles["n_trades"],
    }).iloc[::-1]
    path = tmp_path / "Binance_BTCUSDT_minute.csv"
    path.write_text("https://www.CryptoDataDownload.com\n" + cdd.to_csv(index=False))
    report = import_file(path, KEY, store=store)
    assert report["converted_from_ms"] == len(candles)
    stored = store.read(KEY)
    assert stored["timestamp"].is_monotonic_increasing
    pd.testing.assert_series_equal(stored["close"], candles["close"])
    pd.testing.assert_series_equal(stored["quote_asset_volume"], candles["quote_asset_volume"])


def test_binance_kline_dump_without_header(tmp_path, store, candles):
    dump = pd.DataFrame({
        0: (candles["timestamp"] * 1000).astype("int64"), 1: candles["open"], 2: candles["high"],
        3: candles["low"], 4: candles["close"], 5: candles["volume"],
        6: (candles["timestamp"] * 1000 + 59_999).astype("int64"), 7: candles["quote_asset_volume"],
        8: candles["n_trades"].astype("int64"), 9: candles["taker_buy_base_volume"],
        10: candles["taker_buy_quote_volume"], 11: 0,
    })
    path = tmp_path / "BTCUSDT-1m-2025-12.csv"
    dump.to_csv(path, index=False, header=False)
    import_file(path, KEY, store=store)
    pd.testing.assert_frame_equal(store.read(KEY), candles[list(COLUMNS)], check_exact=False, rtol=1e-12)


def test_parquet_import_merges_into_the_stored_file(tmp_path, store, candles):
    first, second = candles.iloc[:900], candles.iloc[600:]
    first.to_parquet(tmp_path / "a.parquet")
    second.to_parquet(tmp_path / "b.parquet")
    import_file(tmp_path / "a.parquet", KEY, store=store)
    report = import_file(tmp_path / "b.parquet", KEY, store=store)
    assert report["stored_rows"] == len(candles)
    pd.testing.assert_frame_equal(store.read(KEY), candles[list(COLUMNS)])


def test_a_bad_file_is_refused_and_the_store_left_as_it_was(tmp_path, store, candles):
    good = tmp_path / "good.csv"
    candles.to_csv(good, index=False)
    import_file(good, KEY, store=store)
    before = store.path(KEY).read_bytes()
    bad = candles.copy()
    bad.loc[100, "high"] = bad.loc[100, "low"] - 1
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="row 101 .*high < low"):
        import_file(tmp_path / "bad.csv", KEY, store=store)
    assert store.path(KEY).read_bytes() == before
    assert [p.name for p in store.root.iterdir()] == [store.path(KEY).name]  # no temp files left


def test_real_candles_are_never_mixed_into_a_synthetic_file(tmp_path, store, candles):
    store.add(KEY, candles, {"source": "synth", "synthetic": True})
    candles.to_csv(tmp_path / "real.csv", index=False)
    with pytest.raises(DataError, match="synthetic"):
        import_file(tmp_path / "real.csv", KEY, store=store)
    import_file(tmp_path / "real.csv", KEY, store=store, replace=True)
    assert store.info(KEY)["synthetic"] is False


def test_unreadable_file_is_a_data_error(tmp_path, store):
    path = tmp_path / "x.parquet"
    path.write_text("not parquet")
    with pytest.raises(DataError, match="cannot read x.parquet"):
        import_file(path, KEY, store=store)
