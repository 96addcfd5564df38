import numpy as np

from hbopt.cache import synth
from hbopt.cache.candles import resample_array
from hbopt.cache.windows import CandleWindows, resampling_source


def test_windows_are_memoised_within_the_memory_bound():
    minutes = synth.generate(2, "1m", seed=1).to_numpy()
    windows = CandleWindows(resampling_source(minutes), max_bytes=200_000)
    a = windows.frame("x", "BTC-USDT", "1m", 10, 1000)
    assert windows.frame("x", "BTC-USDT", "1m", 10, 1000) is a and windows.hits == 1
    np.testing.assert_array_equal(a.to_numpy(), minutes[10:1001])
    np.testing.assert_array_equal(windows.array("x", "BTC-USDT", "1h"), resample_array(minutes, "1m", "1h"))
    for first in range(0, 2000, 100):  # many more frames than fit
        windows.frame("x", "BTC-USDT", "1m", first, first + 800)
    assert windows.cached_bytes <= 200_000
    assert windows.frame("x", "BTC-USDT", "1m", 10, 1000) is not a  # the oldest was dropped


def test_without_a_bound_nothing_is_kept():
    windows = CandleWindows(resampling_source(synth.generate(1, "1m", seed=1).to_numpy()))
    windows.frame("x", "BTC-USDT", "1m", 0, 10)
    assert windows.cached_bytes == 0
