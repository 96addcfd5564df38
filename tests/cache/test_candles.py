import numpy as np
import pandas as pd
import pytest

from hbopt.cache.candles import COLUMNS, normalise, resample_array, source_interval_for, to_seconds
from hbopt.errors import DataError

T0 = 1_699_999_980  # a minute boundary


def frame(rows):
    return pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"])


def test_normalise_converts_milliseconds_sorts_deduplicates_and_reports_gaps():
    raw = frame([
        [(T0 + 120) * 1000, 10, 11, 9, 10.5, 1],   # ms
        [T0, 10, 11, 9, 10, 1],          # s
        [T0 + 60, 10, 11, 9, 10, 1],
        [T0 + 60, 10, 12, 9, 11, 2],          # duplicate: the later row wins
        [T0 + 300, 10, 11, 9, 10, 1],          # 3 candles missing before it
    ])
    df, report = normalise(raw, "1m")
    assert list(df.columns) == list(COLUMNS)
    assert df["timestamp"].tolist() == [T0, T0 + 60, T0 + 120, T0 + 300]
    assert df.loc[1, "close"] == 11
    assert report.converted_from_ms == 1 and report.duplicates_dropped == 1
    assert report.gaps == [(T0 + 120, T0 + 300, 2)]
    assert report.filled_columns == ["quote_asset_volume", "n_trades", "taker_buy_base_volume", "taker_buy_quote_volume"]


def test_epoch_numbers_in_s_ms_us_and_ns_are_converted_row_by_row():
    seconds, converted = to_seconds(pd.Series([T0, T0 * 10**3, T0 * 10**6, T0 * 10**9]))
    assert seconds.tolist() == [T0] * 4 and converted == 3


@pytest.mark.parametrize("resolution", ["s", "ms", "us", "ns"])
def test_datetimes_of_any_resolution_become_the_right_epoch_seconds(resolution):
    dates = pd.Series(pd.to_datetime([T0, T0 + 60], unit="s")).astype(f"datetime64[{resolution}]")
    assert to_seconds(dates)[0].tolist() == [T0, T0 + 60]
    assert to_seconds(dates.dt.tz_localize("UTC"))[0].tolist() == [T0, T0 + 60]


@pytest.mark.parametrize("text", ["2023-11-14 22:13:00", "2023-11-14T22:13:00Z", "2023-11-14 22:13:00+00:00",
                                  "2023-11-14 22:13:00 UTC", "2023-11-14 23:13:00+01:00"])
def test_date_strings_are_read_as_utc_whatever_their_suffix(text):
    assert to_seconds(pd.Series([text]))[0].tolist() == [T0]


def test_cryptodatadownload_hour_dates_are_read():
    assert to_seconds(pd.Series(["2019-10-17 09-AM", "2019-10-17 01-PM"]))[0].tolist() == [1571302800, 1571317200]


@pytest.mark.parametrize("row, problem", [
    ([T0 + 60, 10, 11, 9, float("nan"), 1], "close is missing"),
    ([T0 + 60, 10, 11, 9, float("inf"), 1], "close is missing or not a finite number"),
    ([T0 + 60, 10, 11, 9, 10, float("inf")], "volume is missing or not a finite number"),
    ([1_230_767_940, 10, 11, 9, 10, 1], "timestamp is before 2009"),
    ([4_102_444_800, 10, 11, 9, 10, 1], "timestamp is in the future"),
    ([T0 + 60, 0, 11, 9, 10, 1], "open is not positive"),
    ([T0 + 60, 10, 8, 9, 10, 1], "high < low"),
    ([T0 + 60, 10, 11, 10.5, 10, 1], "low is above open or close"),
    ([T0 + 61, 10, 11, 9, 10, 1], "not aligned"),
])
def test_invalid_rows_are_rejected_naming_the_row_unless_repaired(row, problem):
    raw = frame([[T0, 10, 11, 9, 10, 1], row, [T0 + 120, 10, 11, 9, 10, 1]])
    with pytest.raises(DataError, match=rf"^row 2 \(timestamp {row[0]}, .*\): .*{problem}"):
        normalise(raw, "1m")
    df, report = normalise(raw, "1m", repair=True)
    assert len(df) == 2 and report.invalid_dropped == 1


def test_repair_refuses_a_file_more_than_half_invalid_unless_forced():
    good = [[T0 + 60 * i, 10, 11, 9, 10, 1] for i in range(4)]
    bad = [[60 * i, 10, 11, 9, 10, 1] for i in range(5)]  # 1970: a misread file
    with pytest.raises(DataError, match=r"^5 of 9 rows are invalid \(the first: row 5 \(timestamp 0, "
                                        r"1970-01-01 00:00 UTC\): timestamp is before 2009\).*--force"):
        normalise(frame(good + bad), "1m", repair=True)
    df, report = normalise(frame(good + bad), "1m", repair=True, force=True)
    assert df["timestamp"].tolist() == [T0 + 60 * i for i in range(4)] and report.invalid_dropped == 5
    assert len(normalise(frame(good + bad[:4]), "1m", repair=True)[0]) == 4  # half is not more than half


def test_missing_required_column_is_a_data_error():
    with pytest.raises(DataError, match="missing column"):
        normalise(pd.DataFrame({"timestamp": [1], "close": [1]}), "1m")


def test_resample_aggregates_complete_buckets_only():
    hour = T0 - T0 % 3600
    ts = np.arange(hour - 600, hour + 2 * 3600, 60)
    rng = np.random.default_rng(0)
    close = 100 + rng.normal(0, 1, len(ts)).cumsum()
    arr = np.column_stack([ts, close, close + 1, close - 1, close, np.ones(len(ts)), np.ones(len(ts)) * 2,
                           np.ones(len(ts)), np.ones(len(ts)) / 2, np.ones(len(ts))])
    out = resample_array(arr, "1m", "1h")
    # the 10 minutes before the first full hour are a partial bucket, so is nothing at the end
    assert out[:, 0].tolist() == [hour, hour + 3600]
    first = arr[10:70]
    assert out[0, 1] == first[0, 1] and out[0, 4] == first[-1, 4]
    assert out[0, 2] == first[:, 2].max() and out[0, 3] == first[:, 3].min()
    assert out[0, 5] == 60 and out[0, 6] == 120 and out[0, 7] == 60


def test_resample_matches_pandas_resample():
    from hbopt.cache import synth

    df = synth.generate(3, "1m", seed=3)
    ours = pd.DataFrame(resample_array(df.to_numpy(), "1m", "15m"), columns=list(COLUMNS)).set_index("timestamp")
    by_time = df.set_index(pd.to_datetime(df["timestamp"], unit="s")).resample("15min")
    theirs = pd.DataFrame({"open": by_time["open"].first(), "high": by_time["high"].max(),
                           "low": by_time["low"].min(), "close": by_time["close"].last(),
                           "volume": by_time["volume"].sum()})
    theirs.index = (theirs.index - pd.Timestamp(0)) // pd.Timedelta("1s")
    pd.testing.assert_frame_equal(ours[["open", "high", "low", "close", "volume"]], theirs.astype(float),
                                  check_names=False, check_index_type=False)


def test_source_interval_is_the_coarsest_stored_divisor():
    assert source_interval_for(["1m", "5m", "1h"], "1h") == "1h"
    assert source_interval_for(["1m", "5m", "3m"], "1h") == "5m"
    assert source_interval_for(["1h"], "1m") is None
