"""Study specs: what to optimise, over what, judged how, on which data.

A study file (YAML)::

    controller: bollinger                 # built-in or --controllers-path controller
    connector: binance_perpetual
    pairs: [BTC-USDT, ETH-USDT]           # or ALL (the default): every pair stored for the connector
    fixed: {total_amount_quote: 1000}     # config fields that do not vary
    space: {bb_length: {type: int, low: 20, high: 300, step: 10}, ...}   # default: the controller's
    relations: ["slow_ma > fast_ma"]      # points that break one are never run (default: the controller's)
    objective: account.sharpe             # or {metric: account.max_drawdown_pct, direction: minimize}, or a list (Pareto)
    constraints: {min_executors: 20, max_drawdown: 0.25, account.fills: {min: 40}}
    window: {days: 90}                    # or {start: 2025-01-01, end: 2025-04-01}
    resolution: 1m
    trade_cost: 0.0006
    engine: turbo                         # turbo | stock
    sampler: tpe                          # tpe | random | grid | nsga2
    across_pairs: mean                    # one parameter set scored over all pairs (mean | min)
    feature_timing: close                 # close | open: passed to each backtest
    holdout: 0.25                         # the last quarter of the window is kept out of the search
    seed: 1

An objective or a constraint names a figure of the account (``account.pnl_quote``, the default
objective, ``account.sharpe``, ``account.max_drawdown_pct``, ...: :data:`hbopt.engine.account.FIGURES`)
or one of Hummingbot's own summary metrics (``net_pnl_quote``, ``sharpe_ratio``, ...), which
are Hummingbot's definitions, not an account's. ``max_drawdown`` is a shorthand for
``account.max_drawdown_pct: {max: ...}``, ``min_executors`` for ``total_executors: {min: ...}``.

Every setting is validated here, before any study folder or worker exists: a bad value is a
:class:`ConfigError` naming the setting, and the fixed fields plus the lowest (first) value of
each space parameter must load as a controller config.

Command-line options override the file; with neither a file nor ``--controller``, ``hbopt.yml``
in the current folder is read, else the default built-in controller is optimised.
"""
from __future__ import annotations

import itertools

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from hbopt.cache.candles import epoch_seconds
from hbopt.engine.account import FIGURES
from hbopt.engine.backtest import check_settings
from hbopt.engine.exchange.costs import Costs
from hbopt.engine.market_data import utc
from hbopt.engine.parity import SUMMARY_FIELDS
from hbopt.errors import ConfigError, ControllerError, UsageError
from hbopt.safe_yaml import read_mapping
from hbopt.search.space import Param, Relation, config_fields, draw, parse_relations, parse_space

DEFAULT_CONTROLLER = "bollinger"
SAMPLERS = ("tpe", "random", "grid", "nsga2")
HUMMINGBOT_METRICS = tuple(k for k in SUMMARY_FIELDS if k != "close_types")
METRICS = tuple(f"account.{k}" for k in FIGURES) + HUMMINGBOT_METRICS  # what an objective or constraint can name
DEFAULT_OBJECTIVE = "account.pnl_quote"
RETIRED = {"equity_pnl_quote": "account.pnl_quote"}
UNMEASURED = 1e12  # a constraint's violation when its figure is missing (finite: stored as JSON)
SHORTHANDS = {"min_executors": ("total_executors", "min"), "max_drawdown": ("account.max_drawdown_pct", "max")}
_FILE_KEYS = {"controller", "connector", "pairs", "fixed", "space", "relations", "objective", "constraints", "window",
              "resolution", "trade_cost", "costs", "sampler", "across_pairs", "engine", "seed", "feature_timing",
              "holdout"}
_COSTS_KEYS = ("model", "maker_fee", "taker_fee", "slippage_bps")
DEFAULT_HOLDOUT = 0.25
RELATION_TRIES, LOAD_TRIES = 256, 9  # points drawn to find one that keeps the relations, and loaded
MAX_HOLDOUT = 0.75


def check_metric(setting: str, metric) -> None:
    """A ConfigError unless ``metric`` is one of :data:`METRICS`."""
    if isinstance(metric, str) and metric in RETIRED:
        raise ConfigError(f"{setting} {metric} was retired: use {RETIRED[metric]}, the account's figure")
    if not isinstance(metric, str) or metric not in METRICS:
        raise ConfigError(f"unknown {setting} metric {metric!r}; use one of {', '.join(METRICS)}")


def metric_value(result: dict, metric: str):
    """A result's figure named ``metric`` (``account.NAME`` or a Hummingbot summary key); None if
    the result does not have it (a trial recorded before the account existed)."""
    if metric.startswith("account."):
        return (result.get("account") or {}).get(metric.removeprefix("account."))
    return result.get(metric)


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
        check_metric("objective", self.metric)
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
    objectives: tuple[Objective, ...] = (Objective(DEFAULT_OBJECTIVE),)
    fixed: dict = field(default_factory=dict)
    constraints: dict = field(default_factory=dict)
    days: float | None = 90
    start: int | None = None
    end: int | None = None
    resolution: str = "1m"
    trade_cost: float = 0.0006
    costs: Costs = Costs()
    engine: str = "turbo"
    sampler: str = "tpe"
    across_pairs: str | None = None
    seed: int | None = None
    feature_timing: str = "close"
    holdout: float = DEFAULT_HOLDOUT
    relations: tuple[Relation, ...] = ()
    default_objective: bool = field(default=False, compare=False)  # no objective was asked for

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def allows(self, params: dict) -> bool:
        """Whether drawn ``params`` (with the fixed fields) keep every relation of the space."""
        values = {**self.fixed, **params}
        return all(r.holds(values) for r in self.relations)

    def config_for(self, pair: str, params: dict) -> dict:
        """The full controller config of a trial on ``pair``."""
        return {**self.fixed, **params, "controller_name": self.controller, "controller_type": self.controller_type,
                "connector_name": self.connector, "trading_pair": pair}

    def window_kwargs(self, window: tuple[int, int] | None = None) -> dict:
        """Window and cost arguments of :func:`hbopt.engine.backtest`: ``window`` (start, end) if
        given, else the spec's own."""
        if window is None:
            window = (None, None) if self.start is None else (self.start, self.end)
        kwargs = {"days": self.days} if window[0] is None else {"start": int(window[0]), "end": int(window[1])}
        return {**kwargs, "resolution": self.resolution, "trade_cost": self.trade_cost, "costs": self.costs.as_dict(),
                "engine": self.engine, "feature_timing": self.feature_timing}

    def backtests(self, params: dict, windows: dict | None = None) -> tuple[dict, ...]:
        """The backtests (keyword arguments of :func:`hbopt.engine.backtest`) that score ``params``:
        one per pair, on ``windows[pair]`` (start, end) if given, else on the spec's window."""
        fields = config_fields(self.space, params)
        return tuple({"config": self.config_for(pair, fields), **self.window_kwargs((windows or {}).get(pair))}
                     for pair in self.pairs)

    def score(self, results: list[dict]) -> list[float]:
        """The objective values of one parameter set from its backtests (one per pair): each
        objective's mean over the pairs, or its worst with ``across_pairs: min``. A ValueError if
        one is not a finite number."""
        values = []
        for objective in self.objectives:
            per_pair = [metric_value(r, objective.metric) for r in results]
            if any(v is None or not math.isfinite(v) for v in per_pair):
                raise ValueError(f"objective {objective.metric} is not finite")
            if self.across_pairs == "min":
                worst = min if objective.direction == "maximize" else max
                values.append(float(worst(per_pair)))
            else:
                values.append(float(sum(per_pair) / len(per_pair)))
        return values

    def violations(self, results: list[dict]) -> dict[str, float]:
        """Constraint violations of a trial's results by constraint name, each <= 0 when satisfied
        on every pair (a figure a result lacks, a non-finite one, violates it by :data:`UNMEASURED`)."""
        out = {}
        for name, bound in self.constraints.items():
            metric, kind, limit = constraint_bound(name, bound)
            values = [metric_value(r, metric) for r in results]
            if any(v is None for v in values):
                out[name] = UNMEASURED
            else:
                out[name] = max(limit - v if kind == "min" else v - limit for v in values)
        return out

    def to_dict(self) -> dict:
        return {
            "controller": self.controller, "controller_type": self.controller_type, "connector": self.connector,
            "pairs": list(self.pairs), "fixed": self.fixed,
            "space": {p.name: _param_dict(p) for p in self.space}, "relations": [r.text for r in self.relations],
            "objective": [{"metric": o.metric, "direction": o.direction} for o in self.objectives],
            "constraints": self.constraints, "window": {"days": self.days, "start": self.start, "end": self.end},
            "resolution": self.resolution, "trade_cost": self.trade_cost,
            "costs": {k: getattr(self.costs, k) for k in _COSTS_KEYS}, "engine": self.engine, "sampler": self.sampler, "across_pairs": self.across_pairs, "seed": self.seed,
            "feature_timing": self.feature_timing, "holdout": self.holdout,
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


def _finite(setting: str, value) -> float:
    """``value`` if it is a finite number (a numeric string as a float), else a ConfigError naming the setting."""
    try:
        number = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else math.nan
    except (ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number):
        shown = repr(value)
        raise ConfigError(f"{setting} must be a finite number, not {shown if len(shown) < 40 else shown[:36] + '...'}")
    return number if isinstance(value, str) else value


def _one_of(setting: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{setting} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _mapping(setting: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{setting} must be a mapping, not {value!r}")
    return dict(value)


def shipped_or_inferred_space(controller_type: str, controller: str, user_module: str | None) -> dict:
    """The ``SEARCH_SPACE`` the controller ships, else the one inferred from its config
    (:mod:`hbopt.search.fields`); a ConfigError when there is neither."""
    from hbopt.engine.controllers import config_class, search_space
    from hbopt.search.fields import inferred_space

    space = search_space(controller_type, controller, user_module) or inferred_space(
        config_class(controller_type, controller, user_module))
    if not space:
        raise ConfigError(f"controller {controller} ships no SEARCH_SPACE and its config has no field to search around "
                          "(a positive number, a bool or an enum with a default): give a space in a study file")
    return space


def controller_relations(controller_type: str, controller: str, user_module: str | None, names) -> list[str]:
    """The ``SEARCH_RELATIONS`` the controller ships, else those inferred between ``names`` (the
    searched and fixed fields: :func:`hbopt.search.fields.inferred_relations`)."""
    from hbopt.engine.controllers import search_relations
    from hbopt.search.fields import inferred_relations

    shipped = search_relations(controller_type, controller, user_module)
    return list(shipped) if shipped is not None else inferred_relations(names)


def _relations(raw, space: list[Param], fixed: dict, defaults: list[str]) -> tuple[Relation, ...]:
    """The spec's relations: ``raw`` (a study file's), else the controller's ``defaults`` whose
    names are all searched or fixed, one at least searched. Each name must be a numeric parameter
    or a fixed number."""
    searched = {p.name for p in space}
    known = searched | set(fixed)
    if raw is None:
        raw = [text for text in defaults if known >= set(names := Relation.parse(text).names) and searched & set(names)]
    relations = parse_relations(raw, known)
    by_name = {p.name: p for p in space}
    for relation in relations:
        for name in relation.names:
            param = by_name.get(name)
            numeric = (all(isinstance(c, (int, float)) for c in param.choices) if param and param.type == "categorical"
                       else param is not None or _is_number(fixed[name]))
            if not numeric:
                raise ConfigError(f"relation {relation.text!r}: {name} is not a number")
    return tuple(relations)


def _is_number(value) -> bool:
    try:
        return math.isfinite(float(value)) and not isinstance(value, bool)
    except (TypeError, ValueError):
        return False


def window_options(days, start, end) -> tuple[float | None, int | None, int | None]:
    """``(days, start, end)`` as options give them (``start``/``end``: a date, its text or epoch
    seconds), start and end as epoch seconds; a UsageError for ``start`` without ``end`` (or the
    reverse) or for both ``days`` and a start."""
    if (start is None) != (end is None):
        raise UsageError("start and end go together (--start, --end)")
    if days is not None and start is not None:
        raise UsageError("use days or start and end, not both (--days, --start/--end)")
    return (days, None if start is None else epoch_seconds(start, "--start"),
            None if end is None else epoch_seconds(end, "--end"))


def given_costs(model=None, maker_fee=None, taker_fee=None, slippage=None) -> dict | None:
    """The cost settings the options give (``--costs``, ``--maker-fee``, ``--taker-fee``,
    ``--slippage``), under a study file's ``costs:`` keys; None when none is given."""
    given = {k: v for k, v in zip(_COSTS_KEYS, (model, maker_fee, taker_fee, slippage)) if v is not None}
    return given or None


def study_spec(study_file=None, *, controller=None, connector=None, pairs=None, across_pairs=None, seed=None,
               sampler=None, objectives=(), days=None, start=None, end=None, resolution=None, trade_cost=None,
               costs=None, maker_fee=None, taker_fee=None, slippage=None, engine=None, feature_timing=None,
               controllers_path=None, sets=None, holdout=None) -> tuple[StudySpec, str | None]:
    """The validated spec a study file and options describe (None: not given, the file's or the
    default), and the user's controllers module. Without a file or a ``controller``,
    ``hbopt.yml`` in the current folder is the study file if there is one. ``pairs`` is a list or
    ``"A,B"`` or ``"ALL"``; ``costs`` a cost model's name; ``sets`` config fields fixed over the
    file's ``fixed``."""
    from hbopt.cache.store import CandleStore
    from hbopt.engine.controllers import controllers_module

    user_module = controllers_module(controllers_path)
    if study_file is None and controller is None and Path("hbopt.yml").is_file():
        study_file = Path("hbopt.yml")
    raw = read_study_file(Path(study_file)) if study_file else {}
    days, start, end = window_options(days, start, end)
    fixed = raw.get("fixed")
    if sets:
        fixed = {**fixed, **sets} if isinstance(fixed, dict) else dict(sets) if fixed is None else fixed
    overrides = {"controller": controller, "connector": connector,
                 "pairs": ",".join(pairs) if isinstance(pairs, (list, tuple)) else pairs, "across_pairs": across_pairs,
                 "seed": seed, "sampler": sampler, "objective": [objectives] if isinstance(objectives, str) else list(objectives) or None, "days": days,
                 "start": start, "end": end, "resolution": resolution, "trade_cost": trade_cost,
                 "costs": given_costs(costs, maker_fee, taker_fee, slippage), "engine": engine, "feature_timing": feature_timing, "holdout": holdout,
                 "fixed": fixed if sets else None}
    return build_spec(raw, overrides, user_module, CandleStore().pairs), user_module


def with_fixed(spec: StudySpec, sets: dict | None, user_module: str | None) -> StudySpec:
    """``spec`` with the config fields ``sets`` fixed over its own (a validation under another
    capital or leverage, say); a ConfigError for a field the study searches, or one that does not
    load."""
    if not sets:
        return spec
    searched = sorted(set(sets) & {p.name for p in spec.space})
    if searched:
        raise ConfigError(f"{', '.join(searched)}: searched by the study, so not fixed by --set")
    changed = replace(spec, fixed={**spec.fixed, **sets})
    loadable_point(changed, user_module)
    return changed


def read_study_file(path: Path) -> dict:
    data = read_mapping(path, "a study")
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise ConfigError(f"{Path(path).name}: unknown key(s) {', '.join(sorted(unknown))}")
    return data


def build_spec(raw: dict, overrides: dict, user_module: str | None, stored_pairs) -> StudySpec:
    """A validated spec from a study file's mapping and command-line overrides (None = not given).

    ``stored_pairs(connector)`` lists the pairs in the store, for ``pairs: ALL``. Raises
    :class:`ConfigError` naming the setting for any invalid value. Settings that need no
    controller are checked first, so one of them is refused before the controller is imported.
    """
    from hbopt.engine.controllers import config_class, controller_type_of, default_objective

    merged = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
    days, start, end = _window(merged, overrides)
    resolution = str(merged.get("resolution") or "1m")
    trade_cost = float(_finite("trade_cost", merged.get("trade_cost", 0.0006)))
    engine = merged.get("engine") or "turbo"
    feature_timing = merged.get("feature_timing") or "close"
    check_settings(engine, resolution, trade_cost, feature_timing, days)
    costs = _costs(raw.get("costs"), overrides.get("costs"))
    holdout = _finite("holdout", merged.get("holdout", DEFAULT_HOLDOUT))
    if not 0 <= holdout <= MAX_HOLDOUT:
        raise ConfigError(f"holdout must be a fraction of the window from 0 (none) to {MAX_HOLDOUT}, not {holdout:g}")
    seed = merged.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32):
        raise ConfigError(f"seed must be an integer from 0 to 2**32 - 1, not {seed!r}")
    across = merged.get("across_pairs")
    if across is not None:
        _one_of("across_pairs", across, ("mean", "min"))
    constraints = _mapping("constraints", merged.get("constraints"))
    for name, bound in constraints.items():
        constraint_bound(name, bound)
    fixed = _mapping("fixed", merged.get("fixed"))
    space = parse_space(merged["space"]) if merged.get("space") else None
    objectives = _objectives(merged.get("objective")) if merged.get("objective") else None

    controller = merged.get("controller") or DEFAULT_CONTROLLER
    if not isinstance(controller, str):
        raise ConfigError(f"controller must be a controller name, not {controller!r}")
    controller_type = controller_type_of(controller, user_module)
    fields = config_class(controller_type, controller, user_module).model_fields
    connector = merged.get("connector") or fields["connector_name"].default
    if not isinstance(connector, str):
        raise ConfigError(f"connector must be a connector name, not {connector!r}")
    pairs = merged.get("pairs") or stored_pairs(connector) or [fields["trading_pair"].default]
    if isinstance(pairs, str):
        pairs = stored_pairs(connector) if pairs.upper() == "ALL" else [p.strip() for p in pairs.split(",") if p.strip()]
    if not isinstance(pairs, list) or not all(isinstance(p, str) and p for p in pairs):
        raise ConfigError(f"pairs must be a list of trading pairs or ALL, not {pairs!r}")
    if not pairs:
        raise ConfigError(f"no pairs to optimise: the store holds none for {connector}")
    both = sorted(p.name for p in space or () if p.name in fixed)
    if both:
        raise ConfigError(f"{', '.join(both)}: both searched (space) and fixed; keep one")
    space = space or [p for p in parse_space(shipped_or_inferred_space(controller_type, controller, user_module))
                      if p.name not in fixed]  # a field fixed (--set) is not searched
    if not space:
        raise ConfigError(f"nothing to search: every parameter of {controller}'s space is fixed")
    relations = _relations(merged.get("relations"), space, fixed,
                           controller_relations(controller_type, controller, user_module,
                                               [*(p.name for p in space), *fixed]))
    chosen = objectives is not None
    objectives = objectives or _objectives(default_objective(controller_type, controller, user_module)
                                           or DEFAULT_OBJECTIVE)
    sampler = _one_of("sampler", merged.get("sampler") or ("nsga2" if len(objectives) > 1 else "tpe"), SAMPLERS)
    if sampler == "tpe" and len(objectives) > 1:
        sampler = "nsga2"
    if sampler == "grid":
        for param in space:
            param.grid()
    spec = StudySpec(controller=controller, controller_type=controller_type, connector=connector,
                     pairs=tuple(pairs), space=tuple(space), objectives=objectives, fixed=fixed,
                     constraints=constraints, days=days, start=start, end=end, resolution=resolution,
                     trade_cost=trade_cost, costs=costs, engine=engine, sampler=sampler, across_pairs=across, seed=seed,
                     feature_timing=feature_timing, holdout=float(holdout), relations=relations,
                     default_objective=not chosen)
    loadable_point(spec, user_module)
    return spec


def _costs(value, given: dict | None) -> Costs:
    """The study's costs: the file's ``costs:`` (a model's name, or a mapping of ``model``,
    ``maker_fee``, ``taker_fee`` and ``slippage_bps``), the options ``given`` over it."""
    if isinstance(value, str):
        value = {"model": value}
    value = _mapping("costs", value)
    unknown = set(value) - set(_COSTS_KEYS)
    if unknown:
        raise ConfigError(f"costs: unknown key(s) {', '.join(sorted(unknown))}; use {', '.join(_COSTS_KEYS)}")
    merged = {**value, **(given or {})}
    for name in _COSTS_KEYS[1:]:
        if merged.get(name) is not None:
            merged[name] = float(_finite(f"costs {name}", merged[name]))
    return Costs(**merged)


def constraint_bound(name: str, bound) -> tuple[str, str, float]:
    """``(metric, "min" or "max", limit)`` of constraint ``name: bound`` (a shorthand with a number,
    or a metric with ``{min: x}`` or ``{max: x}``); a ConfigError naming it if it is not one."""
    if name in SHORTHANDS:
        metric, kind = SHORTHANDS[name]
        return metric, kind, float(_finite(f"constraint {name}", bound))
    check_metric("constraint", name)
    if not isinstance(bound, dict) or len(bound) != 1 or next(iter(bound)) not in ("min", "max"):
        raise ConfigError(f"constraint {name} must be {{min: x}} or {{max: x}}, not {bound!r}")
    kind, limit = next(iter(bound.items()))
    return name, kind, float(_finite(f"constraint {name} {kind}", limit))


def _objectives(raw) -> tuple[Objective, ...]:
    return tuple(Objective.parse(o) for o in (raw if isinstance(raw, list) else [raw]))


def _window(merged: dict, overrides: dict) -> tuple[float | None, int | None, int | None]:
    """``(days, start, end)`` of the study's window: ``days`` (default 90), or ``start`` and ``end``
    (a ``--days`` given on the command line replaces a study file's start and end)."""
    window = _mapping("window", merged.get("window"))
    unknown = set(window) - {"days", "start", "end"}
    if unknown:
        raise ConfigError(f"window: unknown key(s) {', '.join(sorted(unknown))}; use days, or start and end")
    days, start, end = merged.get("days", window.get("days")), merged.get("start", window.get("start")), \
        merged.get("end", window.get("end"))
    if overrides.get("days") is not None:
        start = end = None
    if (start is None) != (end is None):
        raise ConfigError("a window needs both start and end")
    if start is None:
        return (90 if days is None else _finite("days", days)), None, None
    start, end = epoch_seconds(start, "window start"), epoch_seconds(end, "window end")
    if start >= end:
        raise ConfigError(f"the window start {utc(start)} is not before its end {utc(end)}")
    return None, start, end


def loadable_point(spec: StudySpec, user_module: str | None) -> dict:
    """A point of the space that keeps its relations and makes a valid controller config with the
    fixed fields: the lowest (first) values, else the first of a few seeded random points that
    does (a space may hold invalid combinations, which become failed trials, but not only those).
    A ConfigError with the first failure if none does (the capital one, as
    :func:`hbopt.engine.backtest.backtest_config` checks it); a ControllerError if the
    controller's own validation raises anything else."""
    from hbopt.engine.backtest import backtest_config

    lowest = {p.name: p.lowest for p in spec.space}
    drawn = (draw(list(spec.space), 0, index) for index in range(RELATION_TRIES))
    kept = list(itertools.islice(filter(spec.allows, itertools.chain([lowest], drawn)), LOAD_TRIES))
    if not kept:
        raise ConfigError(f"relations {', '.join(r.text for r in spec.relations)}: none of {RELATION_TRIES + 1} points "
                          "drawn from the space keeps them; widen the space or drop a relation")
    first = None
    for point in kept:
        try:
            backtest_config(spec.config_for(spec.pairs[0], config_fields(spec.space, point)), user_module)
            return point
        except ConfigError as exc:
            first = first or exc
        except Exception as exc:  # a validator of the controller's config raised something else
            raise ControllerError(f"loading the {spec.controller} config raised {type(exc).__name__}: {exc}") from None
    raise ConfigError(f"fixed and space: no point tried makes a valid config; the first: {first}")
