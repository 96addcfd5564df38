import numpy as np

from hbopt.cache import synth
from hbopt.cache.candles import resample_array
from hbopt.cache.windows import CandleWindows, resampling_source


def test_a_window_copies_only_its_rows_and_is_kept_for_the_next_trial_that_reads_it():
    minutes = synth.generate(2, "1m", seed=1).to_numpy()
    windows = CandleWindows(resampling_source(minutes), max_bytes=10**7)
    a = windows.frame("x", "BTC-USDT", "1m", 10, 1000)
    np.testing.assert_array_equal(a.to_numpy(), minutes[10:1001])
    assert list(a.index[:2]) == [0, 1]
    held = windows.cached_bytes
    assert held - minutes.nbytes == 991 * 10 * 8  # the window's rows beside the (in-memory) series, not a copy of it
    windows.frame("x", "BTC-USDT", "1m", 10, 1000)
    assert windows.cached_bytes == held and windows.hits == 1
    a.loc[0, "close"] = -1.0  # a consumer's change stays in its own copy
    assert windows.frame("x", "BTC-USDT", "1m", 10, 1000)["close"].iat[0] == minutes[10, 4]
    np.testing.assert_array_equal(windows.array("x", "BTC-USDT", "1h"), resample_array(minutes, "1m", "1h"))


def test_the_least_recently_used_window_goes_first():
    minutes = synth.generate(2, "1m", seed=1).to_numpy()
    windows = CandleWindows(resampling_source(minutes), max_bytes=100_000)  # room for one 1,001-row window
    windows.frame("x", "BTC-USDT", "1m", 0, 1000)
    windows.frame("x", "ETH-USDT", "1m", 0, 1000)
    assert windows.cached_bytes <= 100_000
    misses = windows.misses
    windows.frame("x", "BTC-USDT", "1m", 0, 1000)
    assert windows.misses > misses  # BTC was dropped to make room for ETH


def test_without_a_bound_nothing_is_kept():
    windows = CandleWindows(resampling_source(synth.generate(1, "1m", seed=1).to_numpy()))
    windows.frame("x", "BTC-USDT", "1m", 0, 10)
    assert windows.cached_bytes == 0
