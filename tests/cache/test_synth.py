import numpy as np
import pandas as pd
import pytest

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


@pytest.mark.parametrize("seed", range(4))
def test_the_default_market_is_calibrated_like_a_liquid_crypto_pair(seed):
    stats = synth.statistics(synth.generate(120, "1m", seed=seed))
    assert 0.4 <= stats["annualised_vol"] <= 1.0          # BTC: 40-100% a year
    assert stats["high_over_low"] < 3                     # no runaway price over 120 days
    assert stats["largest_move_pct"] < 5 and stats["moves_over_5pct"] == 0
    assert stats["excess_kurtosis"] > 3                   # fat tails
    assert stats["vol_clustering"] > 0.05                 # calm and turbulent spells


def test_a_wilder_market_only_on_request():
    calm = synth.statistics(synth.generate(30, "1m", seed=1))
    wild = synth.statistics(synth.generate(30, "1m", seed=1, annual_vol=2.0))
    assert wild["annualised_vol"] > 3 * calm["annualised_vol"]
    assert wild["annualised_vol"] > 1.0


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


def test_revert_is_deterministic_and_differs_from_the_walk_it_is_built_on():
    a, b = synth.generate(5, seed=1, regime="revert"), synth.generate(5, seed=1, regime="revert")
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["close"], synth.generate(5, seed=2, regime="revert")["close"])
    assert not np.allclose(a["close"], synth.generate(5, seed=1, regime="walk")["close"])
    normalise(a, "1m")  # valid candles


def reversion(df):
    """Lag-1 autocorrelation of hourly returns, and the slope of the next hour's move on the
    distance of the log price from its 2-hour moving average (negative: it pulls back)."""
    log_price = np.log(df["close"].to_numpy())
    hourly = np.diff(log_price[::60])
    deviation = log_price - pd.Series(log_price).rolling(120).mean().to_numpy()
    ahead = log_price[60:] - log_price[:-60]
    ok = np.isfinite(deviation[:-60])
    return np.corrcoef(hourly[:-1], hourly[1:])[0, 1], np.polyfit(deviation[:-60][ok], ahead[ok], 1)[0]


@pytest.mark.parametrize("seed", range(3))
def test_revert_pulls_back_to_a_moving_average_and_the_walk_does_not(seed):
    revert_ac, revert_slope = reversion(synth.generate(30, "1m", seed=seed, regime="revert"))
    walk_ac, walk_slope = reversion(synth.generate(30, "1m", seed=seed, regime="walk"))
    assert revert_ac < -0.15 and revert_ac < walk_ac - 0.15
    assert revert_slope < -0.25 and abs(walk_slope) < 0.15


@pytest.mark.parametrize("seed", range(3))
def test_revert_keeps_a_realistic_volatility(seed):
    revert = synth.statistics(synth.generate(120, "1m", seed=seed, regime="revert"))
    walk = synth.statistics(synth.generate(120, "1m", seed=seed, regime="walk"))
    assert 0.4 <= revert["annualised_vol"] <= 1.0
    assert abs(revert["annualised_vol"] / walk["annualised_vol"] - 1) < 0.1
    assert revert["high_over_low"] < 3 and revert["moves_over_5pct"] == 0
    assert revert["excess_kurtosis"] > 3 and revert["vol_clustering"] > 0.05
