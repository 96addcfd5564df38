"""Overfitting statistics as pure functions over arrays of per-period PnL (rows: periods, columns:
trials).

- :func:`deflated_sharpe`: the probability that the best trial's true Sharpe ratio is above the
  best that ``n`` skill-less trials would show (Bailey and López de Prado, "The Deflated Sharpe
  Ratio", 2014, eqs. 2 and 3 there).
- :func:`effective_trials`: how many independent trials correlated ones amount to, by
  clustering them on the correlation of their PnL series (as López de Prado and Lewis, "Detection
  of false investment strategies using unsupervised learning methods", 2019, suggest).
- :func:`pbo`: the probability of backtest overfitting by combinatorially symmetric
  cross-validation (Bailey, Borwein, López de Prado and Zhu, "The Probability of Backtest
  Overfitting", 2015).

Sharpe ratios here are per period (not annualised), as the formulas need
(:func:`hbopt.engine.account.sharpe` computes them).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.stats import norm

EULER_GAMMA = 0.5772156649015329


def expected_max_sharpe(variance: float, n_trials: float) -> float:
    """``SR0``: the expected highest Sharpe ratio of ``n_trials`` trials without skill whose
    Sharpe ratios vary with ``variance`` (the false strategy theorem)."""
    if n_trials <= 1:
        return 0.0
    return math.sqrt(variance) * ((1 - EULER_GAMMA) * norm.ppf(1 - 1 / n_trials)
                                  + EULER_GAMMA * norm.ppf(1 - 1 / (n_trials * math.e)))


def probabilistic_sharpe(sr: float, benchmark: float, periods: int, skew: float, kurtosis: float) -> float:
    """P(true Sharpe > ``benchmark``) given an observed ``sr`` over ``periods`` periods of returns
    with this ``skew`` and (non-excess, 3 for a normal) ``kurtosis``."""
    if periods < 2:
        return 0.0
    spread = 1 - skew * sr + (kurtosis - 1) / 4 * sr ** 2
    return float(norm.cdf((sr - benchmark) * math.sqrt(periods - 1) / math.sqrt(max(spread, 1e-12))))


def deflated_sharpe(sr: float, n_trials: float, sr_variance: float, periods: int, skew: float,
                    kurtosis: float) -> tuple[float, float]:
    """The deflated Sharpe ratio (a probability) of a best trial with per-period Sharpe ``sr``,
    and the benchmark ``SR0`` it was deflated against."""
    benchmark = expected_max_sharpe(sr_variance, n_trials)
    return probabilistic_sharpe(sr, benchmark, periods, skew, kurtosis), benchmark


def moments(pnl) -> tuple[float, float]:
    """Skewness and non-excess kurtosis (biased estimators, as the paper uses); (0, 3) when flat."""
    pnl = np.asarray(pnl, dtype=float)
    centred = pnl - pnl.mean()
    variance = (centred ** 2).mean()
    if len(pnl) < 2 or variance == 0:
        return 0.0, 3.0
    return float((centred ** 3).mean() / variance ** 1.5), float((centred ** 4).mean() / variance ** 2)


def effective_trials(matrix, min_correlation: float = 0.7, limit: int = 2000) -> int:
    """How many independent trials the columns amount to: the number of clusters when trials
    whose series correlate by ``min_correlation`` or more (on average, linking clusters by
    their mean distance) count as one. Columns that never vary are one cluster of their own.
    Above ``limit`` varying columns, ``limit`` evenly spread ones are clustered and the count
    scaled up in proportion (an overestimate, so the deflation errs on the strict side)."""
    matrix = np.asarray(matrix, dtype=float)
    varying = matrix[:, matrix.std(axis=0) > 0]
    flat = int(varying.shape[1] < matrix.shape[1])
    n = varying.shape[1]
    if n < 2:
        return max(1, n + flat)
    sample = varying[:, np.linspace(0, n - 1, min(n, limit)).astype(int)]
    distance = np.sqrt(np.clip(0.5 * (1 - np.corrcoef(sample, rowvar=False)), 0, None))
    np.fill_diagonal(distance, 0)
    tree = linkage(squareform(distance, checks=False), "average")
    clusters = int(fcluster(tree, t=np.sqrt(0.5 * (1 - min_correlation)), criterion="distance").max())
    return int(math.ceil(clusters * n / sample.shape[1])) + flat


@dataclass(frozen=True)
class Pbo:
    """``probability``: the share of splits where the in-sample best ranks in the lower half out
    of sample; ``logits``: ``ln(w / (1 - w))`` per split, ``w`` that rank relative to ``N + 1``."""

    probability: float
    logits: np.ndarray
    blocks: int
    splits: int


def pbo(matrix, blocks: int = 16) -> Pbo:
    """PBO by CSCV: the rows (periods) are cut into ``blocks`` contiguous blocks of equal size
    (trailing rows dropped); every way of picking half the blocks is a training set and the
    other half its test set. Performance is the Sharpe ratio of each column on each set."""
    matrix = np.asarray(matrix, dtype=float)
    periods, n = matrix.shape
    if blocks < 2 or blocks % 2:
        raise ValueError("blocks must be an even number of at least 2")
    if n < 2 or periods < 2 * blocks:
        raise ValueError(f"PBO needs at least 2 trials and {2 * blocks} periods, not {n} and {periods}")
    size = periods // blocks
    cut = matrix[:size * blocks].reshape(blocks, size, n)
    sums, squares = cut.sum(axis=1), (cut ** 2).sum(axis=1)            # blocks x n
    combos = np.array(list(itertools.combinations(range(blocks), blocks // 2)))
    chosen = np.zeros((len(combos), blocks))
    chosen[np.arange(len(combos))[:, None], combos] = 1.0
    rows = size * blocks // 2
    chunk = max(16, 2**22 // n)  # splits at a time: a few arrays of chunk x n floats, tens of MB
    logits = []
    for first in range(0, len(chosen), chunk):
        train = chosen[first:first + chunk]
        test = 1.0 - train
        train_sr = _sharpe_from_sums(train @ sums, train @ squares, rows)
        test_sr = _sharpe_from_sums(test @ sums, test @ squares, rows)
        best = train_sr.argmax(axis=1)
        best_test = test_sr[np.arange(len(best)), best]
        # rank 1 = worst out of sample; ties share the lower rank's side conservatively
        rank = (test_sr < best_test[:, None]).sum(axis=1) + 1
        w = rank / (n + 1)
        logits.append(np.log(w / (1 - w)))
    logits = np.concatenate(logits)
    return Pbo(float((logits <= 0).mean()), logits, blocks, len(logits))


def _sharpe_from_sums(sums: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    mean = sums / count
    variance = np.maximum(squares / count - mean ** 2, 0.0) * count / (count - 1)
    std = np.sqrt(variance)
    return np.where(std > 0, mean / np.where(std > 0, std, 1.0), 0.0)
