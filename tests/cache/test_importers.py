import json

import numpy as np
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


def _dates(candles, fmt):
    return pd.to_datetime(candles["timestamp"], unit="s").dt.strftime(fmt)


def _ohlc(candles, capitalised):
    return {(name.capitalize() if capitalised else name): candles[name] for name in ("open", "high", "low", "close")}


# CryptoDataDownload's layouts as they come: (banner, interval, pair, columns of a candle frame).
CDD_LAYOUTS = {
    "legacy hourly, 09-AM dates": ("https://www.CryptoDataDownload.com", "1h", "BTC-USD", lambda c: {
        "Date": _dates(c, "%Y-%m-%d %I-%p"), "Symbol": "BTCUSD", **_ohlc(c, True),
        "Volume BTC": c["volume"], "Volume USD": c["quote_asset_volume"]}),
    "Unix in ms, tradecount": ("Timestamps are UTC timezone,https://www.CryptoDataDownload.com", "1m", "BTC-USDT",
                               lambda c: {"Unix": (c["timestamp"] * 1000).astype("int64"),
                                          "Date": _dates(c, "%Y-%m-%d %H:%M:%S"), "Symbol": "BTCUSDT",
                                          **_ohlc(c, True), "Volume BTC": c["volume"],
                                          "Volume USDT": c["quote_asset_volume"], "tradecount": c["n_trades"]}),
    "unix in s": ("https://www.CryptoDataDownload.com", "1m", "BTC-USD", lambda c: {
        "unix": c["timestamp"].astype("int64"), "date": _dates(c, "%Y-%m-%d %H:%M:%S"), "symbol": "BTC/USD",
        **_ohlc(c, False), "Volume BTC": c["volume"], "Volume USD": c["quote_asset_volume"]}),
}


@pytest.mark.parametrize("layout", CDD_LAYOUTS)
def test_cryptodatadownload_files_with_banner_and_newest_row_first(tmp_path, store, layout):
    banner, interval, pair, columns = CDD_LAYOUTS[layout]
    candles = synth.generate(3, interval, seed=5)
    path = tmp_path / "cdd.csv"
    path.write_text(banner + "\n" + pd.DataFrame(columns(candles)).iloc[::-1].to_csv(index=False))
    key = CandleKey("binance", pair, interval)
    report = import_file(path, key, store=store)
    assert report["rows"] == len(candles) and report["invalid_dropped"] == 0
    checked = ["timestamp", "open", "high", "low", "close", "volume", "quote_asset_volume"]
    pd.testing.assert_frame_equal(store.read(key)[checked], candles[checked])


@pytest.mark.parametrize("base_volume", ["volume_btc", "Volume_BTC", "Volume BTC"])
def test_a_bare_volume_beside_a_base_volume_column_is_the_quote_volume(tmp_path, store, candles, base_volume):
    path = tmp_path / "candles.csv"
    pd.DataFrame({"timestamp": candles["timestamp"], **_ohlc(candles, False), base_volume: candles["volume"],
                  "volume": candles["quote_asset_volume"]}).to_csv(path, index=False)
    import_file(path, KEY, store=store)
    stored = store.read(KEY)
    pd.testing.assert_series_equal(stored["volume"], candles["volume"])
    pd.testing.assert_series_equal(stored["quote_asset_volume"], candles["quote_asset_volume"])


def test_a_quote_named_volume_column_is_the_quote_volume(tmp_path, store, candles):
    path = tmp_path / "candles.csv"
    pd.DataFrame({"Unix Timestamp": candles["timestamp"], **_ohlc(candles, False), "volume_usdt":
                  candles["quote_asset_volume"], "volume": candles["volume"]}).to_csv(path, index=False)
    import_file(path, KEY, store=store)
    stored = store.read(KEY)
    pd.testing.assert_series_equal(stored["volume"], candles["volume"])
    pd.testing.assert_series_equal(stored["quote_asset_volume"], candles["quote_asset_volume"])


@pytest.mark.parametrize("fmt", ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S+00:00",
                                 "%Y-%m-%d %H:%M:%S UTC"])
def test_date_strings_parsed_at_microsecond_resolution_are_stored_as_the_right_epoch_seconds(tmp_path, store,
                                                                                            candles, fmt):
    dates = _dates(candles, fmt)
    assert pd.to_datetime(dates, utc=True).dt.unit != "ns"  # what made 2025 into 1970 before
    path = tmp_path / "dated.csv"
    pd.DataFrame({"date": dates, **_ohlc(candles, False), "volume": candles["volume"]}).to_csv(path, index=False)
    import_file(path, KEY, store=store)
    assert store.read(KEY)["timestamp"].tolist() == candles["timestamp"].tolist()


def test_a_parquet_timestamp_column_of_datetimes_is_stored_as_epoch_seconds(tmp_path, store, candles):
    dated = candles.assign(timestamp=pd.to_datetime(candles["timestamp"], unit="s").astype("datetime64[us]"))
    dated.to_parquet(tmp_path / "dated.parquet")
    import_file(tmp_path / "dated.parquet", KEY, store=store)
    assert store.read(KEY)["timestamp"].tolist() == candles["timestamp"].tolist()


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
    assert not list(store.root.glob("*.tmp"))


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


def _import(hbopt, path, *flags):
    return hbopt("data", "import", path, "--connector", "binance", "--pair", "BTC-USDT", *flags)


def test_a_file_dated_1970_is_refused_even_with_repair(hbopt, tmp_path, candles):
    path = tmp_path / "epoch.csv"
    candles.assign(timestamp=np.arange(len(candles)) * 60).to_csv(path, index=False)
    run = _import(hbopt, path)
    assert run.code == 3 and run.err.strip().startswith(
        "error: row 1 (timestamp 0, 1970-01-01 00:00 UTC): timestamp is before 2009")
    run = _import(hbopt, path, "--repair")
    assert run.code == 3 and f"{len(candles)} of {len(candles)} rows are invalid" in run.err
    assert _import(hbopt, path, "--repair", "--force").err.strip() == "error: no valid candles in the input"
    assert json.loads(hbopt("data", "list", "--json").out) == []


def test_an_infinite_price_is_refused_like_a_missing_one(hbopt, tmp_path, candles):
    path = tmp_path / "inf.csv"
    candles.assign(close=candles["close"].where(candles.index != 7, np.inf)).to_csv(path, index=False)
    run = _import(hbopt, path)
    assert run.code == 3 and len(run.err.strip().splitlines()) == 1
    assert "row 8 " in run.err and "close is missing or not a finite number" in run.err


def test_repair_stores_a_mostly_invalid_file_only_with_force(hbopt, tmp_path, candles):
    path = tmp_path / "mostly_bad.csv"
    mostly_bad = candles.iloc[:10].copy()
    mostly_bad.loc[:5, "high"] = mostly_bad.loc[:5, "low"] - 1
    mostly_bad.to_csv(path, index=False)
    run = _import(hbopt, path, "--repair")
    assert run.code == 3 and run.err.startswith("error: 6 of 10 rows are invalid (the first: row 1 ")
    assert json.loads(hbopt("data", "list", "--json").out) == []
    assert _import(hbopt, path, "--force").code == 2  # --force only goes with --repair
    run = _import(hbopt, path, "--repair", "--force", "--json")
    assert run.code == 0 and json.loads(run.out)["stored_rows"] == 4
