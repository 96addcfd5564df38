"""A generic controller that creates and stops executors at random: the parity tests' adversary.

Each tick it draws from a generator seeded by (``seed``, the tick's time), so both engines see the
same draws on the same tick. It reads ``executors_info`` and ``positions_held`` every tick (it
sells down a long inventory and buys back a short one), creates executors of the ``kinds`` asked
for with random sides, prices, strategies and barriers, and stops random active ones, keeping
their position half the time.
"""
import random
from decimal import Decimal

from hummingbot.core.data_type.common import OrderType, PriceType, TradeType
from hummingbot.strategy_v2.controllers.controller_base import ControllerBase, ControllerConfigBase
from hummingbot.strategy_v2.executors.grid_executor.data_types import GridExecutorConfig
from hummingbot.strategy_v2.executors.order_executor.data_types import (
    ExecutionStrategy,
    LimitChaserConfig,
    OrderExecutorConfig,
)
from hummingbot.strategy_v2.executors.position_executor.data_types import (
    PositionExecutorConfig,
    TrailingStop,
    TripleBarrierConfig,
)
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, StopExecutorAction


class ChaosConfig(ControllerConfigBase):
    controller_type: str = "generic"
    controller_name: str = "chaos"
    connector_name: str = "binance_perpetual"
    trading_pair: str = "BTC-USDT"
    total_amount_quote: Decimal = Decimal("1000")
    seed: int = 0
    kinds: str = "order,position,grid"
    create_rate: float = 0.03
    stop_rate: float = 0.004
    max_active: int = 5


def _d(value: float) -> Decimal:
    return Decimal(str(value))


class Chaos(ControllerBase):
    def __init__(self, config: ChaosConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.config = config
        self.created = 0

    def determine_executor_actions(self):
        cfg, now = self.config, self.market_data_provider.time()
        rng = random.Random(f"{cfg.seed}/{now}")
        price = _d(self.market_data_provider.get_price_by_type(cfg.connector_name, cfg.trading_pair, PriceType.MidPrice))
        active = [e for e in self.executors_info if e.is_active]
        actions = [StopExecutorAction(controller_id=cfg.id, executor_id=e.id, keep_position=rng.random() < 0.5)
                   for e in active if rng.random() < cfg.stop_rate]
        held = sum((p.amount if p.side == TradeType.BUY else -p.amount for p in self.positions_held), Decimal(0))
        if len(active) < cfg.max_active and rng.random() < cfg.create_rate:
            kind = rng.choice(cfg.kinds.split(","))
            self.created += 1
            config = getattr(self, kind)(rng, now, price, held, f"{kind}_{self.created}")
            actions.insert(rng.randrange(len(actions) + 1), CreateExecutorAction(controller_id=cfg.id,
                                                                                 executor_config=config))
        return actions

    def _side(self, rng, held):
        """Against the inventory held, once there is some; else at random."""
        if abs(held) < Decimal("0.005"):
            return rng.choice([TradeType.BUY, TradeType.SELL])
        return TradeType.SELL if held > 0 else TradeType.BUY

    def order(self, rng, now, price, held, level_id):
        side = self._side(rng, held)
        offset = _d(rng.choice([-0.002, -0.0005, 0.0, 0.0005, 0.001, 0.003]))
        strategy = rng.choice(list(ExecutionStrategy))
        return OrderExecutorConfig(
            timestamp=now, connector_name=self.config.connector_name, trading_pair=self.config.trading_pair,
            side=side, amount=_d(rng.choice([20, 50, 150])) / price, level_id=level_id,
            price=price * (1 - offset) if side == TradeType.BUY else price * (1 + offset),
            execution_strategy=strategy, chaser_config=LimitChaserConfig(distance=_d(0.001), refresh_threshold=_d(0.002))
            if strategy == ExecutionStrategy.LIMIT_CHASER else None)

    def position(self, rng, now, price, held, level_id):
        side = self._side(rng, held)
        offset = _d(rng.choice([0.0, 0.0005, 0.002]))
        trailing = TrailingStop(activation_price=_d(rng.choice([0.002, 0.004])), trailing_delta=_d(0.001)) \
            if rng.random() < 0.3 else None
        return PositionExecutorConfig(
            timestamp=now, connector_name=self.config.connector_name, trading_pair=self.config.trading_pair,
            side=side, amount=_d(rng.choice([50, 200])) / price, level_id=level_id,
            entry_price=price * (1 - offset) if side == TradeType.BUY else price * (1 + offset),
            triple_barrier_config=TripleBarrierConfig(
                stop_loss=_d(rng.choice([0.003, 0.01])), take_profit=_d(rng.choice([0.002, 0.006])),
                time_limit=rng.choice([None, 900, 7200]), trailing_stop=trailing,
                open_order_type=rng.choice([OrderType.LIMIT, OrderType.MARKET])))

    def grid(self, rng, now, price, held, level_id):
        side = rng.choice([TradeType.BUY, TradeType.SELL])
        depth, top = _d(rng.choice([0.005, 0.01, 0.03])), _d(rng.choice([0.001, 0.004]))
        start, end = (price * (1 - depth), price * (1 + top)) if side == TradeType.BUY else \
            (price * (1 - top), price * (1 + depth))
        limit = _d(rng.choice([0, 0.002, 0.01]))
        limit_price = (start * (1 - limit) if side == TradeType.BUY else end * (1 + limit)) if limit else Decimal(0)
        return GridExecutorConfig(
            timestamp=now, connector_name=self.config.connector_name, trading_pair=self.config.trading_pair,
            side=side, start_price=start, end_price=end, limit_price=limit_price, level_id=level_id,
            total_amount_quote=_d(rng.choice([100, 500])), min_spread_between_orders=_d(rng.choice([0.0005, 0.002])),
            keep_position=rng.random() < 0.5, coerce_tp_to_step=rng.random() < 0.3,
            triple_barrier_config=TripleBarrierConfig(
                take_profit=_d(rng.choice([0.001, 0.004])), stop_loss=_d(rng.choice([0.005, 0.02])) if rng.random() < 0.5
                else None, time_limit=rng.choice([None, 3600, 6 * 3600]),
                open_order_type=OrderType.LIMIT_MAKER, take_profit_order_type=OrderType.LIMIT_MAKER))

    async def update_processed_data(self):
        pass
