"""``TurboBacktestingEngine``: Hummingbot's ``BacktestingEngineBase`` with a fast simulation loop.

Setup, data preparation (``prepare_market_data``, with hbopt's feature timing) and the controller
are Hummingbot's own (through :class:`~hbopt.engine.stock.StockBacktestingEngine`). What
changes is ``simulate_execution``: executors are simulated on arrays, one module per executor
type (:mod:`.positions`, :mod:`.orders`, :mod:`.grids`; :mod:`.dca` says why not DCA), the
controller is consulted only on ticks where it can act (:mod:`.policies`), and the executors and
position holds a controller reads (``executors_info``, ``positions_held``) are built only when it
reads them. Anything the fast loop cannot reproduce exactly raises :class:`Unsupported` before a
result is produced; the caller then runs the stock engine.
"""
from __future__ import annotations

import gc
from decimal import Decimal

import numpy as np
from hummingbot.strategy_v2.executors.dca_executor.data_types import DCAExecutorConfig
from hummingbot.strategy_v2.executors.grid_executor.data_types import GridExecutorConfig
from hummingbot.strategy_v2.executors.order_executor.data_types import OrderExecutorConfig
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, StopExecutorAction
from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.engine.exchange.simulators import life_of
from hbopt.engine.stock import StockBacktestingEngine
from hbopt.engine.turbo import dca
from hbopt.engine.turbo.grids import GridRun
from hbopt.engine.turbo.holds import PositionHolds
from hbopt.engine.turbo.orders import OrderRun
from hbopt.engine.turbo.policies import Unsupported, policy_for
from hbopt.engine.turbo.positions import PositionRun
from hbopt.engine.turbo.runs import ExecutorRun, LifeRun, Market
from hbopt.engine.turbo.summary import summarize

# When a realized-PnL event happens within its tick, as Hummingbot orders them.
_NATURAL, _EARLY_STOP, _AFTER_LAST_TICK = 0, 1, 2


class SimulationState:
    """What the loop and the policies share: ticks, running executors, the terminated view."""

    def __init__(self, market: Market, window: float | None, view):
        self.market, self.window = market, window
        self.active: list[ExecutorRun] = []
        self.view = view  # the engine's own view of terminated executors, pruned by it


def _watched(controller, engine: "TurboBacktestingEngine"):
    """``controller``, its ``executors_info`` and ``positions_held`` now read from ``engine`` on
    demand (built once per consulted tick) instead of being assigned on every tick."""
    def refuse(name):
        def assign(self, value):
            raise Unsupported(f"the controller assigns its own {name}")
        return assign

    cls = type(controller)
    controller.__class__ = type(cls.__name__, (cls,), {
        "__module__": cls.__module__,
        "executors_info": property(lambda self: engine._executors_view(), refuse("executors_info")),
        "positions_held": property(lambda self: engine._positions_view(), refuse("positions_held")),
    })
    return controller


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
        _watched(self.controller, self)
        self._market, self._state, self._trade_cost = market, state, trade_cost
        self._holds = PositionHolds(self, market)
        self._events: list[tuple[int, int, float]] = []  # (tick, phase, realized pnl)
        self._created = 0
        self._tick, self._views = None, {}
        last = len(market.ts) - 1
        tick = policy.next_tick(-1)
        while tick is not None:
            self._terminate_until(tick)
            self._prune_terminated_executors_view(market.ts[tick])
            if policy.wants(tick):
                self._consult(tick, last)
            tick = policy.next_tick(tick)
        self._terminate_until(last, final=True)
        self._holds.flush()  # the engine's final flush, after its closing look
        self._finish(last)
        return list(self.stopped_executors_info)

    # -- what the controller reads -----------------------------------------------------------
    def _executors_view(self) -> list:
        if "executors" not in self._views:
            self._views["executors"] = [run.info(self._tick) for run in self._state.active] + list(self._state.view)
        return self._views["executors"]

    def _positions_view(self) -> list:
        if "positions" not in self._views:
            self._views["positions"] = self._holds.held(self._tick)
        return self._views["positions"]

    # -- the loop's steps ------------------------------------------------------------------
    def _set_tick(self, tick: int):
        row = self._market.row(tick)
        key = f"{self.controller.config.connector_name}_{self.controller.config.trading_pair}"
        self.controller.market_data_provider.prices = {key: Decimal(row["close_bt"])}
        self.controller.market_data_provider._time = row["timestamp"]
        self.controller.processed_data.update(row)

    def _consult(self, tick: int, last: int):
        self._set_tick(tick)
        self._holds.catch_up(tick)
        self._tick, self._views = tick, {}
        for action in self.controller.determine_executor_actions():
            if isinstance(action, CreateExecutorAction):
                self._create(action.executor_config, tick, last)
            elif isinstance(action, StopExecutorAction):
                self._stop(action, tick)

    def _create(self, config, tick: int, last: int):
        """Simulate a new executor as ``simulate_executor`` would; types it does not simulate are
        dropped, as Hummingbot drops them."""
        self.give_own_id(config)
        market, order = self._market, self._created
        end = market.last_tick_until(self._get_executor_max_timestamp(config, market.ts[last]))
        if self.costs.exchange:
            self._create_for_the_exchange(config, tick, end)
            return
        if isinstance(config, DCAExecutorConfig):
            dca.refuse(config)
        elif isinstance(config, PositionExecutorConfig):
            if config.entry_price is None:
                raise Unsupported("a position executor without an entry price")
            run = PositionRun(config, order, tick, end, market, self._trade_cost)
        elif isinstance(config, GridExecutorConfig):
            run = GridRun(config, order, tick, end, market, self._trade_cost, self.trading_rules(config))
        elif isinstance(config, OrderExecutorConfig):
            run = OrderRun(config, order, tick, end, market, self._trade_cost)
        else:
            return
        self._state.active.append(run)
        self._created += 1

    def _create_for_the_exchange(self, config, tick: int, end: int):
        """:meth:`_create` under the exchange model; an order the exchange rejects is booked where it
        was placed, as hbopt's stock engine books it."""
        life = life_of(config, self._market, tick, end, self)
        if life is None:
            return
        run = LifeRun(config, self._created, life, self._market)
        if run.close_type == CloseType.FAILED:
            self._record_terminated_executor(run.info(tick))
            return
        self._state.active.append(run)
        self._created += 1

    def _stop(self, action: StopExecutorAction, tick: int):
        run = next((r for r in self._state.active if r.id == action.executor_id), None)
        if run is None:
            return
        self._state.active.remove(run)
        keeps = action.keep_position and run.values_at(tick)[3] > 0
        self._record(run.info(tick, stopped_as=CloseType.POSITION_HOLD if keeps else CloseType.EARLY_STOP),
                     tick, _EARLY_STOP)

    def _terminate_until(self, tick: int, final: bool = False):
        """Book every executor Hummingbot finds terminated by ``tick``, in its order: by the tick
        it notices it (:attr:`ExecutorRun.noticed`), then creation order."""
        due = [r for r in self._state.active if final or r.noticed <= tick]
        for run in sorted(due, key=lambda r: (r.noticed, r.order)):
            self._state.active.remove(run)
            self._record(run.info(run.close), run.noticed, _AFTER_LAST_TICK if run.noticed > tick else _NATURAL)

    def _record(self, info, tick: int, phase: int):
        """Book a terminated executor as Hummingbot does: one that keeps a filled position joins its
        position hold on the next tick; any other realises its PnL (from ``tick``'s ``phase``)."""
        self._record_terminated_executor(info)
        if info.close_type == CloseType.POSITION_HOLD and info.filled_amount_quote > 0:
            self._holds.keep(info, tick)
        else:
            self._events.append((tick, phase, float(info.net_pnl_quote)))

    def _finish(self, last: int):
        """The state Hummingbot leaves behind: the last tick's prices and row, and the total PnL
        after each tick (natural terminations of a tick count in it, its early stops from the
        next), plus the open position holds' PnL."""
        self._set_tick(last)
        series = np.zeros(last + 1)
        if self._events:
            ticks, phases, pnl = (np.array(column, dtype=float) for column in zip(*self._events))
            realized = np.concatenate([[0.0], np.cumsum(pnl)])
            seen = np.searchsorted(ticks * 4 + phases, np.arange(last + 1) * 4 + _NATURAL, side="right")
            series = realized[seen]
        held_realized, held_unrealized = self._holds.pnl(last)
        self._pnl_series = series + held_realized + held_unrealized
        self.pnl_timeseries = {"timestamp": self._market.ts, "total_pnl": self._pnl_series}

    def summarize_results(self, executors_info, total_amount_quote=1000, position_holds=None, final_price=None,
                          pnl_timeseries=None):
        return summarize(executors_info, float(total_amount_quote), self._pnl_series, position_holds, final_price)
