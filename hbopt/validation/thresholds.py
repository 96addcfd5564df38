"""What a validation's pass needs. A module of its own, importing nothing heavy, so that the
command line can show the defaults without loading the engines."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Thresholds:
    """What a pass needs (every figure is reported whatever its outcome)."""

    min_dsr: float = 0.95           # deflated Sharpe ratio, a probability
    max_pbo: float = 0.5            # probability of backtest overfitting (must be below)
    neighbourhood: float = 0.5      # the neighbours' median keeps at least this share of the best's score
    min_oos_pnl: float = 0.0        # out-of-sample PnL (quote, the account's) must be above
    min_profitable: float = 0.6     # share of the top trials whose holdout makes more than min_oos_pnl
    min_rate_ratio: float = 0.25    # the top trials' median holdout PnL per day, against their in-sample one
    max_p_value: float = 0.05       # one-sided t-test of the top trials' mean holdout PnL per period
    cost_multiple: float = 2.0      # the stress test's trade cost, times the study's
    pbo_blocks: int = 16            # CSCV blocks (even)

    def __post_init__(self):
        if self.pbo_blocks % 2:
            from hbopt.errors import ConfigError

            raise ConfigError(f"pbo_blocks must be even, not {self.pbo_blocks}")

    def to_dict(self) -> dict:
        return asdict(self)
