"""When a controller can act, so the turbo engine consults it only then.

Hummingbot's engine calls ``determine_executor_actions()`` on every tick. For the stock
directional and market-making bases it is provable, from the executors' known futures, on which
ticks that call returns nothing; the turbo engine skips those. Any other controller (a generic
one, or one overriding a hook these proofs rely on) is consulted on every tick, as Hummingbot does.
"""
from __future__ import annotations

from importlib.metadata import version

import numpy as np
from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import DirectionalTradingControllerBase
from hummingbot.strategy_v2.controllers.market_making_controller_base import MarketMakingControllerBase
from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.controllers.generic.grid import GridController

_DIRECTIONAL_HOOKS = ("determine_executor_actions", "create_actions_proposal", "stop_actions_proposal",
                      "can_create_executor", "filter_executors")
_MARKET_MAKING_HOOKS = ("determine_executor_actions", "create_actions_proposal", "stop_actions_proposal",
                        "get_levels_to_execute", "get_not_active_levels_ids", "executors_to_refresh",
                        "executors_to_early_stop", "check_position_rebalance", "filter_executors",
                        "get_level_id_from_side")


#: Hummingbot releases on which turbo's parity suite (tests/engine/test_turbo_parity.py) has passed.
#: The policies and simulators restate this release's rules; on any other, turbo steps aside.
VERIFIED_HUMMINGBOT = ("20260920",)
HUMMINGBOT_VERSION = version("hummingbot")


class Unsupported(Exception):
    """The turbo engine cannot guarantee Hummingbot's result for this run; the message says why."""


def _overridden(controller, base, hooks) -> list[str]:
    return [h for h in hooks if getattr(type(controller), h) is not getattr(base, h)]


def policy_for(controller, state):
    """The wake-up policy for a controller: a proved schedule for a stock base whose hooks it
    keeps, else every tick. :class:`Unsupported` on a Hummingbot release turbo is not verified on."""
    if HUMMINGBOT_VERSION not in VERIFIED_HUMMINGBOT:
        raise Unsupported(f"turbo's parity suite has not been run on hummingbot {HUMMINGBOT_VERSION} "
                          f"(verified: {', '.join(VERIFIED_HUMMINGBOT)})")
    if isinstance(controller, DirectionalTradingControllerBase):
        if not _overridden(controller, DirectionalTradingControllerBase, _DIRECTIONAL_HOOKS):
            return DirectionalPolicy(controller, state)
    elif isinstance(controller, MarketMakingControllerBase):
        cfg = controller.config
        rebalancing = "_perpetual" not in cfg.connector_name and not cfg.skip_rebalance  # any tick may rebalance
        if not rebalancing and not _overridden(controller, MarketMakingControllerBase, _MARKET_MAKING_HOOKS):
            return MarketMakingPolicy(controller, state)
    elif isinstance(controller, GridController):
        if not _overridden(controller, GridController, ("determine_executor_actions",)):
            return GridPolicy(state)
    return EveryTick(state)


class EveryTick:
    """Consult the controller on every tick, as Hummingbot's engine does."""

    def __init__(self, state):
        self.ticks = len(state.market.ts)

    def next_tick(self, after: int) -> int | None:
        return after + 1 if after + 1 < self.ticks else None

    def wants(self, tick: int) -> bool:
        return True


class DirectionalPolicy:
    """Stock directional base: a tick can act only if its signal is non-zero and
    ``can_create_executor`` holds (replicated here exactly, quirks included)."""

    def __init__(self, controller, state):
        self.config, self.state = controller.config, state
        self.signal = state.market.column("signal")
        self.candidates = np.flatnonzero(self.signal != 0)

    def next_tick(self, after: int) -> int | None:
        i = np.searchsorted(self.candidates, after, side="right")
        return int(self.candidates[i]) if i < len(self.candidates) else None

    def wants(self, tick: int) -> bool:
        signal = self.signal[tick]
        now = self.state.market.ts[tick]
        # Hummingbot's filter reads `x.is_active and (x.side == BUY if signal > 0 else SELL)`: for a
        # short signal the second operand is the (truthy) enum, so every active executor counts.
        runs = [r for r in self.state.active if signal < 0 or r.config.side == TradeType.BUY]
        newest = max((r.config.timestamp for r in runs), default=0)
        return len(runs) < self.config.max_executors_per_side and now - newest > self.config.cooldown_time


class MarketMakingPolicy:
    """Stock market-making base: a tick can act only if a level is free (no active executor, no
    stop-loss cooldown) or an unfilled executor is due for refresh."""

    def __init__(self, controller, state):
        self.config, self.state = controller.config, state
        self.levels = ({f"buy_{i}" for i in range(len(self.config.buy_spreads))}
                       | {f"sell_{i}" for i in range(len(self.config.sell_spreads))})

    def _cooling(self, tick: int):
        now = self.state.market.ts[tick]
        return [info for info in self.state.view
                if info.close_type == CloseType.STOP_LOSS and now - info.close_timestamp < self.config.cooldown_time]

    def _free_levels(self, tick: int) -> bool:
        occupied = {r.config.level_id for r in self.state.active}
        occupied |= {info.custom_info["level_id"] for info in self._cooling(tick)}
        return not self.levels <= occupied

    def wants(self, tick: int) -> bool:
        now = self.state.market.ts[tick]
        return self._free_levels(tick) or any(
            not r.is_filled_at(tick) and now - r.config.timestamp > self.config.executor_refresh_time
            for r in self.state.active)

    def next_tick(self, after: int) -> int | None:
        """The first tick after ``after`` at which :meth:`wants` may turn true: a level still free,
        an executor's termination, a cooldown or the terminated-executor window running out, or a
        refresh falling due."""
        market, window, cfg = self.state.market, self.state.window, self.config
        if self._free_levels(after):
            return after + 1 if after + 1 < len(market.ts) else None
        ticks = []
        for r in self.state.active:
            ticks.append(r.noticed)
            if not r.is_filled_at(after):
                ticks.append(np.searchsorted(market.ts, r.config.timestamp + cfg.executor_refresh_time, "right"))
        for info in self._cooling(after):
            ticks.append(np.searchsorted(market.ts, info.close_timestamp + cfg.cooldown_time, "left"))
            if window is not None:
                ticks.append(np.searchsorted(market.ts, info.close_timestamp + window, "right"))
        ticks = [int(t) for t in ticks if t > after]
        return min(ticks) if ticks and min(ticks) < len(market.ts) else None


class GridPolicy:
    """hbopt's grid controller: it acts only on a tick with no grid running, and then always."""

    def __init__(self, state):
        self.state, self.ticks = state, len(state.market.ts)

    def wants(self, tick: int) -> bool:
        return not self.state.active

    def next_tick(self, after: int) -> int | None:
        """The next tick, while no grid runs; else the tick the engine books the running one."""
        tick = min((r.noticed for r in self.state.active), default=after + 1)
        return tick if tick < self.ticks else None
