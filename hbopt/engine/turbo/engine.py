"""``TurboBacktestingEngine``: Hummingbot's ``BacktestingEngineBase`` with a fast simulation loop.

Setup, data preparation (``prepare_market_data``, with hbopt's feature timing) and the controller
are Hummingbot's own (through :class:`~hbopt.engine.stock.StockBacktestingEngine`). What
changes is ``simulate_execution``: position executors are simulated on arrays
(:mod:`.positions`), the controller is consulted only on ticks where it can act (:mod:`.policies`)
and executor state is materialised as ``ExecutorInfo`` only when a controller reads it or an
executor terminates. Anything the fast loop cannot reproduce exactly raises :class:`Unsupported`
before a result is produced; the caller then runs the stock engine.
"""
from __future__ import annotations

import gc
from decimal import Decimal

import numpy as np
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig
from hummingbot.strategy_v2.models.base import RunnableStatus
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, StopExecutorAction
from hummingbot.strategy_v2.models.executors import CloseType
from hummingbot.strategy_v2.models.executors_info import ExecutorInfo

from hbopt.engine.stock import StockBacktestingEngine
from hbopt.engine.turbo.policies import Unsupported, policy_for
from hbopt.engine.turbo.positions import NO_TICK, PositionRun
from hbopt.engine.turbo.summary import summarize

# When a realized-PnL event happens within its tick, as Hummingbot orders them.
_NATURAL, _EARLY_STOP, _AFTER_LAST_TICK = 0, 1, 2


class Market:
    """The prepared ticks as arrays, plus each tick's row as Hummingbot's ``iterrows`` gives it."""

    def __init__(self, features):
        self.ts = features.index.to_numpy(dtype="float64")
        self.close = np.ascontiguousarray(features["close"].to_numpy(dtype="float64"))
        self.low = np.ascontiguousarray(features["low"].to_numpy(dtype="float64"))
        self.high = np.ascontiguousarray(features["high"].to_numpy(dtype="float64"))
        self._columns = list(features.columns)
        self._values = features.to_numpy()  # what iterrows() builds each row from
        self._features = features

    def column(self, name: str) -> np.ndarray:
        return self._features[name].to_numpy()

    def row(self, tick: int) -> dict:
        return dict(zip(self._columns, self._values[tick].tolist()))


class SimulationState:
    """What the loop and the policies share: ticks, running executors, the terminated view."""

    def __init__(self, market: Market, window: float | None, view):
        self.market, self.window = market, window
        self.active: list[PositionRun] = []
        self.view = view  # the engine's own view of terminated executors, pruned by it


class TurboBacktestingEngine(StockBacktestingEngine):
    """Drop-in for ``BacktestingEngineBase`` giving the same executors and summary, faster."""

    async def simulate_execution(self, trade_cost: float) -> list:
        # The loop makes many short-lived, acyclic objects; the cycle collector would rescan every
        # long-lived one (hummingbot, pandas) each time, costing more than the simulation itself.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._simulate(trade_cost)
        finally:
            if collecting:
                gc.enable()

    def _simulate(self, trade_cost: float) -> list:
        features = self.prepare_market_data()
        self._reset_simulation_state()
        if len(features) < 2:
            raise Unsupported("fewer than two ticks to simulate")
        market = Market(features)
        state = SimulationState(market, self.terminated_executors_window,
                                self._terminated_executors_view if self._terminated_executors_view is not None
                                else self.stopped_executors_info)
        policy = policy_for(self.controller, state)
        self._market, self._state, self._trade_cost = market, state, trade_cost
        self._events: list[tuple[int, int, float]] = []  # (tick, phase, realized pnl)
        self._created = 0
        last = len(market.ts) - 1
        tick = policy.next_tick(-1)
        while tick is not None:
            self._terminate_until(tick)
            self._prune_terminated_executors_view(market.ts[tick])
            if policy.wants(tick):
                self._consult(tick, last)
            tick = policy.next_tick(tick)
        self._terminate_until(last, final=True)
        self._finish(last)
        return list(self.stopped_executors_info)

    # -- the loop's steps ------------------------------------------------------------------
    def _set_tick(self, tick: int):
        row = self._market.row(tick)
        key = f"{self.controller.config.connector_name}_{self.controller.config.trading_pair}"
        self.controller.market_data_provider.prices = {key: Decimal(row["close_bt"])}
        self.controller.market_data_provider._time = row["timestamp"]
        self.controller.processed_data.update(row)

    def _consult(self, tick: int, last: int):
        self._set_tick(tick)
        self.controller.positions_held = []
        self.controller.executors_info = [self._info(r, tick) for r in self._state.active] + list(self._state.view)
        for action in self.controller.determine_executor_actions():
            if isinstance(action, CreateExecutorAction):
                self._create(action.executor_config, tick, last)
            elif isinstance(action, StopExecutorAction):
                self._stop(action, tick)

    def _create(self, config, tick: int, last: int):
        if not isinstance(config, PositionExecutorConfig):
            raise Unsupported(f"the controller created a {type(config).__name__}; turbo simulates position executors")
        if config.entry_price is None:
            raise Unsupported("a position executor without an entry price")
        ts = self._market.ts
        end = last
        if config.triple_barrier_config.time_limit:
            end = int(np.searchsorted(ts, min(config.timestamp + config.triple_barrier_config.time_limit, ts[last]),
                                      side="right")) - 1
        self._state.active.append(PositionRun(config, self._created, tick, end, self._market, self._trade_cost))
        self._created += 1

    def _stop(self, action: StopExecutorAction, tick: int):
        run = next((r for r in self._state.active if r.id == action.executor_id), None)
        if run is None:
            return
        if action.keep_position and run.is_filled_at(tick):
            raise Unsupported("a stop that keeps its position (position holds are not simulated)")
        info = self._info(run, tick, stopped=True)
        self._state.active.remove(run)
        self._record(info, tick, _EARLY_STOP)

    def _terminate_until(self, tick: int, final: bool = False):
        """Book every executor Hummingbot finds terminated by ``tick``, in its order: by the tick
        it notices it (:attr:`PositionRun.noticed`), then creation order."""
        due = [r for r in self._state.active if final or r.noticed <= tick]
        for run in sorted(due, key=lambda r: (r.noticed, r.order)):
            self._state.active.remove(run)
            self._record(self._info(run, run.close), run.noticed, _AFTER_LAST_TICK if run.noticed > tick else _NATURAL)

    def _record(self, info: ExecutorInfo, tick: int, phase: int):
        self._record_terminated_executor(info)
        self._events.append((tick, phase, float(info.net_pnl_quote)))

    def _info(self, run: PositionRun, tick: int, stopped: bool = False) -> ExecutorInfo:
        """The ``ExecutorInfo`` Hummingbot's simulation reports for ``run`` at ``tick``."""
        market = self._market
        pct, quote, fees, filled = run.values_at(tick)
        active = tick < run.close and not stopped
        trading = filled > 0
        fill_ts = float(market.ts[run.fill]) if run.fill != NO_TICK else None
        config = run.config
        terminated_as = CloseType.EARLY_STOP if stopped else run.close_type
        return ExecutorInfo.model_construct(  # already-valid values: pydantic's validation would only slow it
            id=config.id, timestamp=config.timestamp, type=config.type,
            status=RunnableStatus.RUNNING if active else RunnableStatus.TERMINATED, config=config,
            net_pnl_pct=Decimal(pct), net_pnl_quote=Decimal(quote), cum_fees_quote=Decimal(fees),
            filled_amount_quote=Decimal(filled), is_active=active, is_trading=bool(trading and active),
            custom_info={"close_price": float(market.close[tick]), "level_id": config.level_id, "side": config.side,
                         "current_position_average_price": float(config.entry_price),
                         "open_order_last_update": fill_ts if trading else float(market.ts[tick])},
            close_timestamp=None if active else float(market.ts[tick]),
            close_type=None if active else terminated_as, controller_id=None)

    def _finish(self, last: int):
        """The state Hummingbot leaves behind: the last tick's prices and row, and the total PnL
        after each tick (natural terminations of a tick count in it, its early stops from the next)."""
        self._set_tick(last)
        series = np.zeros(last + 1)
        if self._events:
            ticks, phases, pnl = (np.array(column, dtype=float) for column in zip(*self._events))
            realized = np.concatenate([[0.0], np.cumsum(pnl)])
            seen = np.searchsorted(ticks * 4 + phases, np.arange(last + 1) * 4 + _NATURAL, side="right")
            series = realized[seen]
        self._pnl_series = series
        self.pnl_timeseries = {"timestamp": self._market.ts, "total_pnl": series}

    def summarize_results(self, executors_info, total_amount_quote=1000, position_holds=None, final_price=None,
                          pnl_timeseries=None):
        return summarize(executors_info, float(total_amount_quote), self._pnl_series)
