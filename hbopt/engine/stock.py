"""Hummingbot's stock ``BacktestingEngineBase``, with no look-ahead from coarser candles.

Hummingbot stamps a candle with its open time and merges a controller's ``features`` onto the
execution ticks backward by timestamp, so a feature computed from the 10:00-11:00 candle reaches
the 10:00 tick of a 1m backtest, which trades at 10:01 on the hour's final close. With
``feature_timing="close"`` (the default) :class:`StockBacktestingEngine` moves each feature row
to the tick whose own candle closes with the candle the feature came from (the 10:59 tick, which
trades at 11:00); ``"open"`` keeps Hummingbot's merge exactly. Nothing else changes.

Which candles a features frame came from is read off its timestamps: the coarsest interval the
controller reads (``get_candles_config()``) on whose grid every feature row lies.

With ``costs`` of the exchange model, the executors are simulated by
:mod:`hbopt.engine.exchange.simulators` instead of Hummingbot's own simulators.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from hummingbot.strategy_v2.backtesting.backtesting_engine_base import BacktestingEngineBase

from hbopt.cache.candles import interval_seconds
from hbopt.engine.exchange import simulators
from hbopt.engine.exchange.costs import ConnectorCosts, Costs, connector_costs
from hbopt.engine.trading_rules import load_rules_file, price_increment
from hbopt.errors import ControllerError, DataError

# Columns prepare_market_data overwrites with the ticks' own candle after the merge.
_OVERWRITTEN = ("timestamp", "open", "high", "low", "close", "volume")


def features_interval(timestamps: np.ndarray, intervals) -> str | None:
    """The coarsest of ``intervals`` on whose grid every timestamp lies, or ``None``."""
    for interval in sorted(set(intervals), key=interval_seconds, reverse=True):
        if np.all(timestamps % interval_seconds(interval) == 0):
            return interval
    return None


class StockBacktestingEngine(BacktestingEngineBase):
    """``BacktestingEngineBase`` merging features when their candle closes (or, with
    ``feature_timing="open"``, on its open time as Hummingbot does). After a run,
    :attr:`features_interval` names the candles the controller's features came from."""

    def __init__(self, feature_timing: str = "close", costs: Costs = Costs()):
        super().__init__()
        self.feature_timing, self.costs = feature_timing, costs
        self.features_interval: str | None = None
        self._connector_costs: dict[str, ConnectorCosts] = {}
        self._rules: dict | None = None
        if costs.exchange:
            self.position_executor_simulator = self.order_executor_simulator = self.grid_executor_simulator = \
                self.dca_executor_simulator = simulators.ExchangeSimulator(self)

    def connector_costs(self, config) -> ConnectorCosts:
        """The exchange model's costs for an executor's connector."""
        if config.connector_name not in self._connector_costs:
            self._connector_costs[config.connector_name] = connector_costs(self.costs, config.connector_name)
        return self._connector_costs[config.connector_name]

    def trading_rules(self, config):
        """The trading rule of an executor's pair, or None where the data provider has none."""
        try:
            return self.backtesting_data_provider.get_trading_rules(config.connector_name, config.trading_pair)
        except (KeyError, AttributeError):
            return None

    def price_increment(self, config, price: float) -> float:
        """The price increment by which the market must trade through a resting order of an
        executor created at ``price`` to fill it (:func:`hbopt.engine.trading_rules.price_increment`)."""
        if self._rules is None:
            self._rules = load_rules_file()
        return price_increment(config.connector_name, config.trading_pair, price, self._rules)

    def _reset_simulation_state(self):
        super()._reset_simulation_state()
        self._executor_ids: set[str] = set()

    def give_own_id(self, config) -> None:
        """Make a new executor's ``config.id`` one no other executor of this run has.

        Hummingbot hashes an executor's id from its timestamp, the tick it was created on, and
        ``random.randint(0, 99999)``, so two executors created on one tick share an id about once
        in 100,000 pairs, and its engine then stops or books the wrong one: a market maker's run
        would come out differently about once in a hundred. A repeated id gets a suffix (``-2``,
        ``-3``...), set on the config the controller holds, so a run is what Hummingbot gives
        whenever its ids differ, every time."""
        own, n = config.id, 1
        while own in self._executor_ids:
            n += 1
            own = f"{config.id}-{n}"
        config.id = own
        self._executor_ids.add(own)

    def simulate_executor(self, config, df, trade_cost):
        """Hummingbot's, except that the executor gets its own id (:meth:`give_own_id`) and an
        order the exchange rejects is booked (terminated where it was placed) rather than
        dropped as Hummingbot drops a FAILED simulation."""
        self.give_own_id(config)
        simulation = super().simulate_executor(config, df, trade_cost)
        if simulators.is_rejection(simulation):
            self._record_terminated_executor(simulation.get_executor_info_at_timestamp(float(df.index[0])))
        return simulation

    @property
    def feature_delay(self) -> int:
        """Seconds a feature row moves later: its candle's length less the tick's, in close timing."""
        if self.feature_timing != "close" or self.features_interval is None:
            return 0
        return max(0, interval_seconds(self.features_interval) - interval_seconds(self.backtesting_resolution))

    def prepare_market_data(self) -> pd.DataFrame:
        features = self.controller.processed_data.get("features")
        if isinstance(features, pd.DataFrame) and "timestamp" in features and len(features):
            self._check_features(features)
            intervals = [c.interval for c in self.controller.get_candles_config()]
            self.features_interval = features_interval(features["timestamp"].to_numpy(dtype="float64"), intervals)
            if self.feature_delay:
                self.controller.processed_data["features"] = features.assign(
                    timestamp=features["timestamp"] + self.feature_delay)
        return super().prepare_market_data()

    def _check_features(self, features: pd.DataFrame) -> None:
        """Hummingbot's engine drops every tick whose merged row holds a NaN: if no row of the
        features is complete, say which columns are to blame, and whether the window (shorter
        than the warm-up the controller asks for) or the controller is."""
        columns = [c for c in features.columns if c not in _OVERWRITTEN]
        if features[columns].notna().all(axis=1).any():
            return
        gaps = features[columns].isna().sum().sort_values(ascending=False)
        named = ", ".join(f"{c} ({n} NaN)" for c, n in gaps[gaps > 0].items())
        rows, warmup = len(features), max((c.max_records for c in self.controller.get_candles_config()), default=0)
        if rows <= warmup:
            raise DataError(f"no row of the controller's {rows} feature rows is complete: {named}. Hummingbot's "
                            f"engine shows a controller only the candles inside the window, and its indicators "
                            f"need {warmup} to warm up; use a longer window")
        raise ControllerError(f"no row of the controller's {rows} feature rows is complete, so Hummingbot's engine "
                              f"drops every tick: {named}. An indicator column renamed, never filled, or filled "
                              f"only on some rows?")
