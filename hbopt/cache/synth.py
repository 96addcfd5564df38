"""A synthetic market to optimise on when no real candles are at hand.

Deterministic for a seed. Log returns follow a GARCH(1,1) with Student-t innovations (volatility
clustering, fat tails) and an intraday volatility cycle; a Markov chain switches between
ranging (mean-reverting), bull and bear regimes. Candles are consistent (low <= open, close <=
high) and volume grows with volatility and the size of the move.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hbopt.cache.candles import COLUMNS, interval_seconds
from hbopt.errors import ConfigError

DEFAULT_END = int(pd.Timestamp("2026-01-01", tz="UTC").timestamp())
REGIMES = ("mixed", "trending", "ranging")

_ANNUAL_VOL = 0.65                       # crypto-like annualised volatility
_TREND_PER_DAY = 0.025                   # drift of bull/bear regimes, in log price per day
_REVERSION_HALF_LIFE_DAYS = 0.25         # pull towards the anchor in ranging regimes
_REGIME_DAYS = 4.0                       # mean regime duration
_GARCH_ALPHA, _GARCH_BETA = 0.06, 0.92   # persistence 0.98: clustered volatility
_T_DOF = 4.0                             # fat tails
_GAP_MEAN_CANDLES = 30


def _regime_path(n: int, per_day: float, regime: str, rng: np.random.Generator) -> np.ndarray:
    """Per-candle regime: 0 ranging, +1 bull, -1 bear."""
    allowed = {"mixed": (0, 1, -1), "trending": (1, -1), "ranging": (0,)}[regime]
    out = np.empty(n, dtype=np.int8)
    i = 0
    while i < n:
        length = max(1, int(rng.exponential(_REGIME_DAYS * per_day)))
        out[i:i + length] = allowed[rng.integers(len(allowed))]
        i += length
    return out


def generate(days: float, interval: str = "1m", seed: int = 0, start_price: float = 1000.0,
             end: int = DEFAULT_END, regime: str = "mixed", gap_rate: float = 0.0) -> pd.DataFrame:
    """Candles covering ``days`` days up to (excluding) ``end``, in Hummingbot's columns.

    ``gap_rate`` is the chance that a run of missing candles starts at any candle (for testing
    gappy data); the price path runs on underneath, so a gap ends with a jump as real ones do.
    """
    if regime not in REGIMES:
        raise ConfigError(f"unknown regime {regime!r}; use one of {', '.join(REGIMES)}")
    if days <= 0 or start_price <= 0 or not 0 <= gap_rate < 1:
        raise ConfigError("synth needs days > 0, start price > 0 and 0 <= gap rate < 1")
    step = interval_seconds(interval)
    end = end // step * step
    n = int(days * 86400 // step)
    if n < 2:
        raise ConfigError(f"{days} days hold fewer than two {interval} candles")
    rng = np.random.default_rng(seed)
    per_day = 86400 / step
    timestamps = end - step * np.arange(n, 0, -1)

    base_var = (_ANNUAL_VOL ** 2) / (365 * per_day)
    hours = (timestamps % 86400) / 3600
    season = 1 + 0.35 * np.sin(2 * np.pi * (hours - 8) / 24)  # busiest around the US/EU overlap
    shocks = rng.standard_t(_T_DOF, n) * np.sqrt((_T_DOF - 2) / _T_DOF)
    regimes = _regime_path(n, per_day, regime, rng)
    drift = regimes * _TREND_PER_DAY / per_day
    kappa = np.log(2) / (_REVERSION_HALF_LIFE_DAYS * per_day)

    omega = base_var * (1 - _GARCH_ALPHA - _GARCH_BETA)
    returns = np.empty(n)
    sigmas = np.empty(n)
    var, log_price, anchor = base_var, np.log(start_price), np.log(start_price)
    for i in range(n):
        sigma = np.sqrt(var) * season[i]
        pull = -kappa * (log_price - anchor) if regimes[i] == 0 else 0.0
        if regimes[i] != 0:
            anchor = log_price
        r = drift[i] + pull + sigma * shocks[i]
        returns[i], sigmas[i] = r, sigma
        log_price += r
        var = omega + _GARCH_ALPHA * (r - drift[i]) ** 2 + _GARCH_BETA * var

    close = start_price * np.exp(np.cumsum(returns))
    open_ = np.r_[start_price, close[:-1]]
    wick = sigmas * 0.6
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 1, n)) * wick)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 1, n)) * wick)

    activity = (sigmas / np.sqrt(base_var)) * (1 + np.abs(returns) / sigmas) / 2
    volume = 50.0 * np.sqrt(step / 60) * activity * rng.lognormal(0, 0.35, n) * 1000 / start_price
    typical = (open_ + high + low + close) / 4
    buy_share = np.clip(0.5 + 0.2 * np.tanh(returns / sigmas) + rng.normal(0, 0.05, n), 0.05, 0.95)
    n_trades = np.maximum(1, np.round(volume * typical / 250 * rng.lognormal(0, 0.2, n)))

    df = pd.DataFrame({
        "timestamp": timestamps.astype("float64"), "open": open_, "high": high, "low": low, "close": close,
        "volume": volume, "quote_asset_volume": volume * typical, "n_trades": n_trades,
        "taker_buy_base_volume": volume * buy_share, "taker_buy_quote_volume": volume * buy_share * typical,
    }, columns=list(COLUMNS))
    if gap_rate > 0:
        df = df[~_gap_mask(n, gap_rate, rng)].reset_index(drop=True)
    return df


def _gap_mask(n: int, gap_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Runs of candles to drop; never the first or last candle, so the span stays ``days``."""
    mask = np.zeros(n, dtype=bool)
    for start in np.flatnonzero(rng.random(n) < gap_rate):
        mask[start:start + int(rng.geometric(1 / _GAP_MEAN_CANDLES))] = True
    mask[0] = mask[-1] = False
    return mask
