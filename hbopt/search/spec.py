"""Study specs: what to optimise, over what, judged how, on which data.

A study file (YAML)::

    controller: bollinger                 # built-in or --controllers-path controller
    connector: binance_perpetual
    pairs: [BTC-USDT, ETH-USDT]           # or ALL (the default): every pair stored for the connector
    fixed: {total_amount_quote: 1000}     # config fields that do not vary
    space: {bb_length: {type: int, low: 20, high: 300, step: 10}, ...}   # default: the controller's
    objective: sharpe_ratio               # or {metric: max_drawdown_pct, direction: maximize}, or a list (Pareto)
    constraints: {min_executors: 20, max_drawdown: 0.25}
    window: {days: 90}                    # or {start: 2025-01-01, end: 2025-04-01}
    resolution: 1m
    trade_cost: 0.0006
    sampler: tpe                          # tpe | random | grid | nsga2
    across_pairs: mean                    # one parameter set scored over all pairs (mean | min)

Command-line options override the file; with neither a file nor ``--controller``, ``hbopt.yml``
in the current folder is read, else the default built-in controller is optimised.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from hbopt.cache.files import read_yaml_mapping
from hbopt.errors import ConfigError
from hbopt.search.space import Param, parse_space

DEFAULT_CONTROLLER = "bollinger"
SAMPLERS = ("tpe", "random", "grid", "nsga2")
_FILE_KEYS = {"controller", "connector", "pairs", "fixed", "space", "objective", "constraints", "window",
              "resolution", "trade_cost", "sampler", "across_pairs", "engine", "seed"}


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str = "maximize"

    @classmethod
    def parse(cls, raw) -> Objective:
        if isinstance(raw, str):
            metric, _, direction = raw.partition(":")
            return cls(metric.strip(), direction.strip() or "maximize")._checked()
        if isinstance(raw, dict) and "metric" in raw:
            return cls(raw["metric"], raw.get("direction", "maximize"))._checked()
        raise ConfigError(f"an objective is a metric name or {{metric: ..., direction: ...}}, not {raw!r}")

    def _checked(self) -> Objective:
        if self.direction not in ("maximize", "minimize"):
            raise ConfigError(f"objective {self.metric}: direction must be maximize or minimize")
        return self


@dataclass(frozen=True)
class StudySpec:
    controller: str
    controller_type: str
    connector: str
    pairs: tuple[str, ...]
    space: tuple[Param, ...]
    objectives: tuple[Objective, ...] = (Objective("net_pnl_quote"),)
    fixed: dict = field(default_factory=dict)
    constraints: dict = field(default_factory=dict)
    days: float | None = 90
    start: int | None = None
    end: int | None = None
    resolution: str = "1m"
    trade_cost: float = 0.0006
    engine: str = "turbo"
    sampler: str = "tpe"
    across_pairs: str | None = None
    seed: int | None = None

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def config_for(self, pair: str, params: dict) -> dict:
        """The full controller config of a trial on ``pair``."""
        return {**self.fixed, **params, "controller_name": self.controller, "controller_type": self.controller_type,
                "connector_name": self.connector, "trading_pair": pair}

    def window_kwargs(self) -> dict:
        """Window and cost arguments of :func:`hbopt.engine.backtest`."""
        window = {"days": self.days} if self.start is None else {"start": self.start, "end": self.end}
        return {**window, "resolution": self.resolution, "trade_cost": self.trade_cost, "engine": self.engine}

    def violations(self, results: list[dict]) -> list[float]:
        """Constraint violations of a trial's results (each <= 0 when satisfied), one per constraint."""
        out = []
        if "min_executors" in self.constraints:
            out.append(float(self.constraints["min_executors"]) - min(r["total_executors"] for r in results))
        if "max_drawdown" in self.constraints:  # a fraction of total_amount_quote, e.g. 0.25
            out.append(max(-(r["max_drawdown_pct"] or 0.0) for r in results) - float(self.constraints["max_drawdown"]))
        return out

    def to_dict(self) -> dict:
        return {
            "controller": self.controller, "controller_type": self.controller_type, "connector": self.connector,
            "pairs": list(self.pairs), "fixed": self.fixed,
            "space": {p.name: _param_dict(p) for p in self.space},
            "objective": [{"metric": o.metric, "direction": o.direction} for o in self.objectives],
            "constraints": self.constraints, "window": {"days": self.days, "start": self.start, "end": self.end},
            "resolution": self.resolution, "trade_cost": self.trade_cost, "engine": self.engine,
            "sampler": self.sampler, "across_pairs": self.across_pairs, "seed": self.seed,
        }

    def with_pairs(self, pairs) -> StudySpec:
        return replace(self, pairs=tuple(pairs))


def _param_dict(p: Param) -> dict:
    out = {"type": p.type}
    if p.type == "categorical":
        out["choices"] = list(p.choices)
    else:
        out.update(low=p.low, high=p.high, **({"step": p.step} if p.step else {}), **({"log": True} if p.log else {}))
    if p.when:
        out["when"] = {k: list(v) for k, v in p.when}
    return out


def _epoch(value) -> int:
    """Epoch seconds from epoch seconds, a date or a date string (UTC)."""
    if isinstance(value, (int, float)):
        return int(value)
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        raise ConfigError(f"{value!r} is not a date") from None
    return int((stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).timestamp())


def read_study_file(path: Path) -> dict:
    data = read_yaml_mapping(path, "a study")
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise ConfigError(f"{Path(path).name}: unknown key(s) {', '.join(sorted(unknown))}")
    return data


def build_spec(raw: dict, overrides: dict, user_module: str | None, stored_pairs) -> StudySpec:
    """A validated spec from a study file's mapping and command-line overrides (None = not given).

    ``stored_pairs(connector)`` lists the pairs in the store, for ``pairs: ALL``.
    """
    from hbopt.engine.controllers import config_class, controller_type_of, search_space

    merged = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
    controller = merged.get("controller") or DEFAULT_CONTROLLER
    controller_type = controller_type_of(controller, user_module)
    fields = config_class(controller_type, controller, user_module).model_fields
    connector = merged.get("connector") or fields["connector_name"].default
    pairs = merged.get("pairs") or stored_pairs(connector) or [fields["trading_pair"].default]
    if isinstance(pairs, str):
        pairs = stored_pairs(connector) if pairs.upper() == "ALL" else [p.strip() for p in pairs.split(",") if p.strip()]
    if not pairs:
        raise ConfigError(f"no pairs to optimise: the store holds none for {connector}")
    space = parse_space(merged.get("space") or search_space(controller_type, controller, user_module))
    fixed = dict(merged.get("fixed") or {})
    for name in [p.name for p in space if p.is_config_field] + list(fixed):
        if name not in fields:
            raise ConfigError(f"{name} is not a field of controller {controller}")
    objectives = merged.get("objective") or "net_pnl_quote"
    objectives = tuple(Objective.parse(o) for o in (objectives if isinstance(objectives, list) else [objectives]))
    window = merged.get("window") or {}
    days, start, end = merged.get("days", window.get("days")), merged.get("start", window.get("start")), \
        merged.get("end", window.get("end"))
    if (start is None) != (end is None):
        raise ConfigError("a window needs both start and end")
    if start is not None:
        days, start, end = None, _epoch(start), _epoch(end)
    elif days is None:
        days = 90
    sampler = merged.get("sampler") or ("nsga2" if len(objectives) > 1 else "tpe")
    if sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
    if sampler == "tpe" and len(objectives) > 1:
        sampler = "nsga2"
    across = merged.get("across_pairs")
    if across not in (None, "mean", "min"):
        raise ConfigError("across_pairs must be mean or min")
    constraints = dict(merged.get("constraints") or {})
    unknown = set(constraints) - {"min_executors", "max_drawdown"}
    if unknown:
        raise ConfigError(f"unknown constraint(s) {', '.join(sorted(unknown))}; use min_executors, max_drawdown")
    return StudySpec(controller=controller, controller_type=controller_type, connector=connector,
                     pairs=tuple(pairs), space=tuple(space), objectives=objectives, fixed=fixed,
                     constraints=constraints, days=days, start=start, end=end,
                     resolution=merged.get("resolution") or "1m", trade_cost=float(merged.get("trade_cost", 0.0006)),
                     engine=merged.get("engine") or "turbo", sampler=sampler, across_pairs=across,
                     seed=merged.get("seed"))
