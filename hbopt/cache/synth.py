"""A synthetic market to optimise on when no real candles are at hand, calibrated to a liquid
crypto pair (BTC-USDT-like by default).

Deterministic for a seed. Log returns are ``drift + sigma_t * z_t + jumps``:

- ``sigma_t`` is stochastic volatility with two log-normal factors (one slow, half-life days;
  one fast, half-life hours), so calm and turbulent spells cluster, times an intraday cycle; it
  is scaled so the annualised volatility, jumps (and revert's OU) included, averages ``annual_vol``
  (default 60%, where BTC usually lies);
- ``z_t`` is Student-t with 5 degrees of freedom (fat tails), scaled to unit variance;
- jumps arrive about once every three days, a few tenths of a percent to a few percent;
- a Markov chain switches between ranging (mean-reverting), bull and bear regimes with a modest
  drift, so the price wanders like a market rather than running away (over 120 days the
  highest price stays within a few times the lowest). ``regime="walk"`` has neither drift nor
  reversion: a martingale, on which no strategy has an edge. ``regime="revert"`` is that walk
  plus a mean-reverting (Ornstein-Uhlenbeck) component in log price, half-life 30 minutes and
  stdev 0.35%, which takes most of the 1m variance: an edge for Bollinger-style mean reversion.

Candles are consistent (low <= open, close <= high), their wicks reach as far beyond the body as
a random path's do on average (0.4 sigma each side: longer wicks would hand a market maker filled
on them an edge the martingale does not have), and volume grows with volatility and the size of
the move. :func:`statistics` measures what a series really looks like.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from hbopt.cache.candles import COLUMNS, EARLIEST, interval_seconds
from hbopt.errors import ConfigError

DEFAULT_END = int(pd.Timestamp("2026-01-01", tz="UTC").timestamp())
DEFAULT_ANNUAL_VOL = 0.6
DEFAULT_START_PRICE = 60_000.0
REGIMES = ("mixed", "trending", "ranging", "walk", "revert")
YEAR = 365 * 86400
MAX_CANDLES = 10_000_000           # rows of one synthetic series (19 years of 1m candles)
PRICES = (1e-9, 1e9)               # a start price outside these is no market

_TREND_PER_DAY = 0.012                 # drift of bull/bear regimes, in log price per day
_REVERSION_HALF_LIFE_DAYS = 0.5        # pull towards the anchor in ranging regimes
_REGIME_DAYS = 4.0                     # mean regime duration
_VOL_FACTORS = ((5 * 86400, 0.35), (2 * 3600, 0.3))  # (half-life s, stdev of log volatility)
_SEASON = 0.25                         # intraday volatility cycle amplitude
_T_DOF = 5.0                           # fat tails
_JUMPS_PER_DAY, _JUMP_SIZE = 0.3, 0.008
_REVERT_FACTOR = (1800, 0.0035)        # revert: OU in log price (half-life s, stdev at the default vol)
_GAP_MEAN_CANDLES = 30
_WICK = 0.5
_QUOTE_VOLUME_PER_MINUTE = 2e6          # typical traded value of a 1m candle, in quote


def _regime_path(n: int, per_day: float, regime: str, rng: np.random.Generator) -> np.ndarray:
    """Per-candle regime: 0 ranging, +1 bull, -1 bear (all 0, unused, for a walk or revert)."""
    allowed = {"mixed": (0, 1, -1), "trending": (1, -1), "ranging": (0,), "walk": (0,),
               "revert": (0,)}[regime]
    out = np.empty(n, dtype=np.int8)
    i = 0
    while i < n:
        length = max(1, int(rng.exponential(_REGIME_DAYS * per_day)))
        out[i:i + length] = allowed[rng.integers(len(allowed))]
        i += length
    return out


def _log_volatility(n: int, step: int, rng: np.random.Generator) -> np.ndarray:
    """Sum of stationary AR(1) factors in log volatility, centred so ``exp(2x)`` averages 1."""
    total, variance = np.zeros(n), 0.0
    for half_life, stdev in _VOL_FACTORS:
        phi = 0.5 ** (step / half_life)
        noise = rng.normal(0.0, stdev * np.sqrt(1 - phi ** 2), n)
        noise[0] = rng.normal(0.0, stdev)  # start in the stationary distribution
        total += lfilter([1.0], [1.0, -phi], noise)
        variance += stdev ** 2
    return total - variance


def generate(days: float, interval: str = "1m", seed: int = 0, start_price: float = DEFAULT_START_PRICE,
             end: int = DEFAULT_END, regime: str = "mixed", gap_rate: float = 0.0,
             annual_vol: float = DEFAULT_ANNUAL_VOL) -> pd.DataFrame:
    """Candles covering ``days`` days up to (excluding) ``end``, in Hummingbot's columns.

    ``annual_vol`` is the target annualised volatility (0.6 = 60%); larger values give wilder
    markets on request. ``gap_rate`` is the chance that a run of missing candles starts at any
    candle (for testing gappy data); the price path runs on underneath, so a gap ends with a
    jump as real ones do.
    """
    step = interval_seconds(interval)
    _check_options(days, step, start_price, end, regime, gap_rate, annual_vol)
    end = end // step * step
    n = int(days * 86400 // step)
    if n < 2:
        raise ConfigError(f"{days} days hold fewer than two {interval} candles")
    rng = np.random.default_rng(seed)
    per_day = 86400 / step
    timestamps = end - step * np.arange(n, 0, -1)

    jump_rate = _JUMPS_PER_DAY / per_day
    jump_variance = jump_rate * _JUMP_SIZE ** 2
    half_life, amplitude = _REVERT_FACTOR[0], _REVERT_FACTOR[1] * annual_vol / DEFAULT_ANNUAL_VOL
    phi = 0.5 ** (step / half_life)
    revert_variance = 2 * (1 - phi) * amplitude ** 2 if regime == "revert" else 0.0  # of an OU step
    diffusive_variance = annual_vol ** 2 * step / YEAR - jump_variance - revert_variance
    if diffusive_variance <= 0:
        raise ConfigError(f"a volatility of {annual_vol:g} is too low for {interval} candles")
    hours = (timestamps % 86400) / 3600
    season = 1 + _SEASON * np.sin(2 * np.pi * (hours - 8) / 24)  # busiest around the US/EU overlap
    season /= np.sqrt(1 + _SEASON ** 2 / 2)                      # unit mean square
    sigmas = np.sqrt(diffusive_variance) * np.exp(_log_volatility(n, step, rng)) * season
    shocks = rng.standard_t(_T_DOF, n) * np.sqrt((_T_DOF - 2) / _T_DOF)
    jumps = np.where(rng.random(n) < jump_rate, rng.normal(0.0, _JUMP_SIZE, n), 0.0)
    regimes = _regime_path(n, per_day, regime, rng)
    noise = sigmas * shocks + jumps
    if regime == "revert":  # the OU component: Student-t shocks scaled like sigma_t, started stationary
        ou = rng.standard_t(_T_DOF, n) * np.sqrt((_T_DOF - 2) / _T_DOF) * sigmas / np.sqrt(diffusive_variance)
        ou *= amplitude * np.sqrt(1 - phi ** 2)
        noise += np.diff(lfilter([1.0], [1.0, -phi], np.r_[rng.normal(0.0, amplitude), ou]))

    drift = regimes * _TREND_PER_DAY / per_day
    kappa = np.log(2) / (_REVERSION_HALF_LIFE_DAYS * per_day) if regime not in ("walk", "revert") else 0.0
    returns = np.empty(n)
    log_price = anchor = 0.0
    for i in range(n):  # the pull depends on the path so far
        if regimes[i] != 0:
            anchor = log_price
        returns[i] = drift[i] - kappa * (log_price - anchor) + noise[i]
        log_price += returns[i]

    close = start_price * np.exp(np.cumsum(returns))
    open_ = np.r_[start_price, close[:-1]]
    wick = sigmas * _WICK  # E|N| * 0.5 = 0.4: a Brownian path's mean excursion beyond its body, in sigmas
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 1, n)) * wick)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 1, n)) * wick)

    typical_sigma = np.sqrt(diffusive_variance)
    activity = (sigmas / typical_sigma) * (1 + np.abs(returns) / sigmas) / 2
    volume = _QUOTE_VOLUME_PER_MINUTE / start_price * np.sqrt(step / 60) * activity * rng.lognormal(0, 0.35, n)
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


def _check_options(days: float, step: int, start_price: float, end: int, regime: str, gap_rate: float,
                   annual_vol: float) -> None:
    """A :class:`ConfigError` naming the first option :func:`generate` cannot honour."""
    if regime not in REGIMES:
        raise ConfigError(f"unknown regime {regime!r}; use one of {', '.join(REGIMES)}")
    most_days = MAX_CANDLES * step / 86400
    for name, value, ok, bounds in (
            ("days", days, 0 < days <= most_days, f"more than 0 and at most {most_days:g} ({MAX_CANDLES:,} candles)"),
            ("start price", start_price, PRICES[0] <= start_price <= PRICES[1], f"from {PRICES[0]:g} to {PRICES[1]:g}"),
            ("gap rate", gap_rate, 0 <= gap_rate < 1, "at least 0 and less than 1"),
            ("vol", annual_vol, 0 < annual_vol <= 10, "more than 0 and at most 10")):
        if not ok:
            raise ConfigError(f"synth {name} must be {bounds}, not {value!r}")
    if end - days * 86400 < EARLIEST:
        raise ConfigError(f"synth: {days:g} days up to {pd.Timestamp(end, unit='s', tz='UTC'):%Y-%m-%d} would start "
                          "before 2009; no candles exist there")


def _gap_mask(n: int, gap_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Runs of candles to drop; never the first or last candle, so the span stays ``days``."""
    mask = np.zeros(n, dtype=bool)
    for start in np.flatnonzero(rng.random(n) < gap_rate):
        mask[start:start + int(rng.geometric(1 / _GAP_MEAN_CANDLES))] = True
    mask[0] = mask[-1] = False
    return mask


def statistics(df: pd.DataFrame) -> dict:
    """What a candle series looks like, to compare with a real market: annualised volatility,
    highest/lowest price, the largest move between consecutive closes, moves over 5%, excess
    kurtosis of returns and the autocorrelation of absolute returns an hour apart (volatility
    clustering; 0 for intervals of an hour or more)."""
    ts = df["timestamp"].to_numpy(dtype="float64")
    close = df["close"].to_numpy(dtype="float64")
    step = float(np.median(np.diff(ts))) if len(ts) > 1 else 0.0
    r = np.diff(np.log(close)) if len(close) > 1 else np.zeros(1)
    deviation = r.std()
    lag = int(3600 // step) if step else 0
    clustering = (float(np.corrcoef(np.abs(r[:-lag]), np.abs(r[lag:]))[0, 1])
                  if 0 < lag < len(r) // 2 and deviation > 0 else 0.0)
    return {
        "annualised_vol": float(deviation * np.sqrt(YEAR / step)) if step else 0.0,
        "first_close": float(close[0]), "last_close": float(close[-1]),
        "high_over_low": float(df["high"].max() / df["low"].min()),
        "largest_move_pct": float(100 * np.expm1(np.abs(r).max())),
        "moves_over_5pct": int((np.abs(r) > np.log(1.05)).sum()),
        "excess_kurtosis": float(((r - r.mean()) ** 4).mean() / deviation ** 4 - 3) if deviation > 0 else 0.0,
        "vol_clustering": clustering,
    }
