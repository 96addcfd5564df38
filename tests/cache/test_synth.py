import numpy as np
import pandas as pd

from hbopt.cache import synth
from hbopt.cache.candles import normalise


def log_returns(df):
    return np.diff(np.log(df["close"].to_numpy()))


def test_same_seed_same_market_other_seed_other_market():
    a, b, c = synth.generate(5, seed=1), synth.generate(5, seed=1), synth.generate(5, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["close"], c["close"])


def test_candles_are_valid_and_span_the_requested_days():
    df = synth.generate(10, "1m", seed=3)
    clean, report = normalise(df, "1m")  # raises on any invalid candle
    assert len(clean) == 10 * 1440 and report.gaps == []
    assert df["timestamp"].iat[-1] == synth.DEFAULT_END - 60
    assert (df["volume"] > 0).all() and (df["n_trades"] >= 1).all()
    assert (df["taker_buy_base_volume"] < df["volume"]).all()


def test_returns_have_fat_tails_and_clustered_volatility():
    r = log_returns(synth.generate(30, "1m", seed=4))
    kurtosis = ((r - r.mean()) ** 4).mean() / r.var() ** 2
    abs_r = np.abs(r)
    autocorr = np.corrcoef(abs_r[:-60], abs_r[60:])[0, 1]  # |returns| an hour apart
    assert kurtosis > 4
    assert autocorr > 0.1


def test_trending_markets_travel_further_than_ranging_ones():
    def travel(regime):
        return np.median([abs(np.log(d["close"].iat[-1] / d["close"].iat[0]))
                          for d in (synth.generate(20, "1m", seed=s, regime=regime) for s in range(6))])
    assert travel("trending") > 2 * travel("ranging")


def test_gappy_markets_have_gaps_but_keep_their_span():
    df = synth.generate(5, "1m", seed=5, gap_rate=0.002)
    _, report = normalise(df, "1m")
    assert report.gaps and report.missing_candles > 10
    assert df["timestamp"].iat[-1] - df["timestamp"].iat[0] == 5 * 86400 - 60
