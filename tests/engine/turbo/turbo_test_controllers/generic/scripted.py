"""A generic controller that does what its ``script`` says, tick by tick: the account tests' hand.

``script`` is JSON: a list of steps ``{"at": epoch seconds, "create": {...}}`` or ``{"at": ...,
"stop": level_id, "keep_position": bool}``. A ``create`` names its ``type`` (``position``,
``order`` or ``grid``) and that executor config's fields (numbers as Decimals, enums by name,
``level_id`` required); a position's barriers go in ``barriers`` (``trailing_stop`` as
``[activation, delta]``).
"""
import json
from decimal import Decimal

from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.strategy_v2.controllers.controller_base import ControllerBase, ControllerConfigBase
from hummingbot.strategy_v2.executors.grid_executor.data_types import GridExecutorConfig
from hummingbot.strategy_v2.executors.order_executor.data_types import ExecutionStrategy, OrderExecutorConfig
from hummingbot.strategy_v2.executors.position_executor.data_types import (
    PositionExecutorConfig,
    TrailingStop,
    TripleBarrierConfig,
)
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, StopExecutorAction


class ScriptedConfig(ControllerConfigBase):
    controller_type: str = "generic"
    controller_name: str = "scripted"
    connector_name: str = "binance_perpetual"
    trading_pair: str = "BTC-USDT"
    total_amount_quote: Decimal = Decimal("1000")
    script: str = "[]"


def _barriers(raw: dict) -> TripleBarrierConfig:
    raw = dict(raw)
    if raw.get("trailing_stop"):
        activation, delta = raw.pop("trailing_stop")
        raw["trailing_stop"] = TrailingStop(activation_price=Decimal(str(activation)), trailing_delta=Decimal(str(delta)))
    for key in ("open_order_type", "take_profit_order_type"):
        if key in raw:
            raw[key] = OrderType[raw[key]]
    return TripleBarrierConfig(**{k: Decimal(str(v)) if isinstance(v, (int, float)) and k != "time_limit" else v
                                  for k, v in raw.items()})


class Scripted(ControllerBase):
    def __init__(self, config: ScriptedConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.config = config
        self.steps = json.loads(config.script)

    def determine_executor_actions(self):
        now = self.market_data_provider.time()
        actions = []
        for step in self.steps:
            if step["at"] != now:
                continue
            if "stop" in step:
                executor = next(e for e in self.executors_info if e.config.level_id == step["stop"])
                actions.append(StopExecutorAction(controller_id=self.config.id, executor_id=executor.id,
                                                  keep_position=step.get("keep_position", False)))
            else:
                actions.append(CreateExecutorAction(controller_id=self.config.id,
                                                    executor_config=self._config(now, dict(step["create"]))))
        return actions

    def _config(self, now, raw: dict):
        kind = raw.pop("type")
        fields = {"timestamp": now, "connector_name": self.config.connector_name,
                  "trading_pair": self.config.trading_pair, "side": TradeType[raw.pop("side")]}
        if "barriers" in raw:
            fields["triple_barrier_config"] = _barriers(raw.pop("barriers"))
        if "execution_strategy" in raw:
            fields["execution_strategy"] = ExecutionStrategy[raw.pop("execution_strategy")]
        fields.update({k: Decimal(str(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                       for k, v in raw.items()})
        return {"position": PositionExecutorConfig, "order": OrderExecutorConfig, "grid": GridExecutorConfig}[kind](**fields)

    async def update_processed_data(self):
        pass
