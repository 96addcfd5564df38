"""Finding and loading controller configs the way Hummingbot does.

Configs are plain dicts (Hummingbot's controller YAML) loaded by Hummingbot's own
``BacktestingEngineBase.get_controller_config_instance_from_dict``, from hbopt's built-in
``hbopt.controllers`` package or from a user's controllers folder laid out the same way
(``<folder>/<controller_type>/<controller_name>.py``).
"""
from __future__ import annotations

import enum
import hashlib
import importlib
import inspect
import json
import pkgutil
import sys
import types
import typing
from pathlib import Path

from hbopt.engine.results import json_safe
from hbopt.errors import ConfigError

BUILTIN_MODULE = "hbopt.controllers"
CONTROLLER_TYPES = ("directional_trading", "market_making", "generic")


def controllers_module(path: str | Path | None) -> str | None:
    """The package name of a user's controllers folder made importable (None without one)."""
    return use_controllers_path(path) if path else None


def use_controllers_path(path: str | Path) -> str:
    """Make a user's controllers folder importable; returns its package name."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"controllers path {path} is not a folder")
    if not any((path / t).is_dir() for t in CONTROLLER_TYPES):
        raise ConfigError(f"controllers path {path} holds none of the folders {', '.join(CONTROLLER_TYPES)}")
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    importlib.invalidate_caches()
    return path.name


def _packages(user_module: str | None) -> list[str]:
    return [user_module, BUILTIN_MODULE] if user_module else [BUILTIN_MODULE]


def _module_exists(name: str) -> bool:
    """Whether module ``name`` can be found (finding it imports its parent packages)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
    except (Exception, SystemExit) as exc:
        raise ConfigError(f"cannot import package {name.rpartition('.')[0]}: {type(exc).__name__}: {exc}") from None


def list_controllers(user_module: str | None = None) -> list[dict]:
    """Every loadable controller: name, type, package, and whether it ships a search space."""
    found, seen = [], set()
    for package in _packages(user_module):
        for controller_type in CONTROLLER_TYPES:
            type_module = f"{package}.{controller_type}"
            if not _module_exists(type_module):
                continue
            for info in pkgutil.iter_modules(importlib.util.find_spec(type_module).submodule_search_locations):
                if info.ispkg or info.name.startswith("_") or info.name in seen:
                    continue
                seen.add(info.name)
                found.append({"name": info.name, "type": controller_type, "package": package})
    return found


def controller_type_of(name: str, user_module: str | None = None) -> str:
    """The controller type (folder) of a controller given by name."""
    for entry in list_controllers(user_module):
        if entry["name"] == name:
            return entry["type"]
    known = ", ".join(e["name"] for e in list_controllers(user_module))
    raise ConfigError(f"unknown controller {name!r}; known: {known}")


def _package_for(controller_type: str, controller_name: str, user_module: str | None) -> str:
    for package in _packages(user_module):
        if _module_exists(f"{package}.{controller_type}") and \
                _module_exists(f"{package}.{controller_type}.{controller_name}"):
            return package
    raise ConfigError(f"unknown controller {controller_type}.{controller_name}")


def config_class(controller_type: str, controller_name: str, user_module: str | None = None):
    """The controller's config class, found as Hummingbot's loader finds it."""
    from hummingbot.strategy_v2.controllers.controller_base import ControllerConfigBase
    from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
        DirectionalTradingControllerConfigBase,
    )
    from hummingbot.strategy_v2.controllers.market_making_controller_base import MarketMakingControllerConfigBase

    module = _controller_module(controller_type, controller_name, user_module)
    bases = (ControllerConfigBase, DirectionalTradingControllerConfigBase, MarketMakingControllerConfigBase)
    for _, member in inspect.getmembers(module, inspect.isclass):
        if issubclass(member, ControllerConfigBase) and member not in bases:
            return member
    raise ConfigError(f"controller {controller_name} defines no config class")


def _controller_module(controller_type: str, controller_name: str, user_module: str | None):
    """The controller's module; a ConfigError naming the controller and the error if importing it raises."""
    package = _package_for(controller_type, controller_name, user_module)
    try:
        return importlib.import_module(f"{package}.{controller_type}.{controller_name}")
    except (Exception, SystemExit) as exc:  # a module that calls sys.exit() when imported is as broken
        raise ConfigError(f"cannot import controller {controller_name}: {type(exc).__name__}: {exc}") from None


def search_space(controller_type: str, controller_name: str, user_module: str | None = None) -> dict:
    """The ``SEARCH_SPACE`` a controller module ships (empty if none)."""
    return dict(getattr(_controller_module(controller_type, controller_name, user_module), "SEARCH_SPACE", {}))


def search_relations(controller_type: str, controller_name: str, user_module: str | None = None) -> list | None:
    """The ``SEARCH_RELATIONS`` a controller module ships (``["slow > fast"]``), None if none."""
    return getattr(_controller_module(controller_type, controller_name, user_module), "SEARCH_RELATIONS", None)


def default_objective(controller_type: str, controller_name: str, user_module: str | None = None) -> str | None:
    """The ``OBJECTIVE`` a controller module ships (the metric to search it on by default), if any."""
    return getattr(_controller_module(controller_type, controller_name, user_module), "OBJECTIVE", None)


def controller_catalog(user_module: str | None = None) -> list[dict]:
    """:func:`list_controllers` rows with the ``search_space`` each ships; for a controller whose
    module cannot be imported, ``search_space`` None and an ``error`` saying why."""
    rows = []
    for entry in list_controllers(user_module):
        try:
            rows.append({**entry, "search_space": search_space(entry["type"], entry["name"], user_module)})
        except ConfigError as exc:
            rows.append({**entry, "search_space": None, "error": str(exc)})
    return rows


def config_id(config: dict) -> str:
    """A stable id for a config dict: the same parameters always get the same id."""
    payload = json.dumps({k: v for k, v in config.items() if k != "id"}, sort_keys=True, default=str)
    return f"{config.get('controller_name', 'controller')}_{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def load_config(config: dict, user_module: str | None = None):
    """A validated Hummingbot controller config instance from a config dict.

    Unknown fields and invalid values raise :class:`ConfigError` naming the field; a missing
    ``id`` is filled with :func:`config_id`.
    """
    from hummingbot.strategy_v2.backtesting.backtesting_engine_base import BacktestingEngineBase
    from pydantic import ValidationError

    controller_type, controller_name = config.get("controller_type"), config.get("controller_name")
    if not controller_name:
        raise ConfigError("the config names no controller_name")
    if not controller_type:
        controller_type = controller_type_of(controller_name, user_module)
    cls = config_class(controller_type, controller_name, user_module)
    unknown = sorted(set(config) - set(cls.model_fields))
    if unknown:
        raise ConfigError(f"unknown field(s) for controller {controller_name}: {', '.join(unknown)}")
    config = {**as_lists(cls, config), "controller_type": controller_type}
    config.setdefault("id", config_id(config))
    config = {**as_lists(cls, defaults_to_validate(cls, config)), **config}
    try:
        return BacktestingEngineBase.get_controller_config_instance_from_dict(
            config, controllers_module=_package_for(controller_type, controller_name, user_module))
    except ValidationError as exc:
        missing = [".".join(map(str, e["loc"])) for e in exc.errors() if e["type"] == "missing"]
        if missing:
            raise ConfigError(f"{controller_name} config: {', '.join(missing)} has no default: give it with "
                              + " ".join(f"--set {name}=..." for name in missing)
                              + " (or fixed: in a study file)") from None
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "config"
        hint = "; Hummingbot's YAML gives an enum by its value" if first["type"] == "enum" else ""
        raise ConfigError(f"invalid {controller_name} config: {field}: {first['msg']} "
                          f"(got {first.get('input')!r}){hint}") from None


def defaults_to_validate(cls, config: dict) -> dict:
    """The fields of ``cls`` that ``config`` leaves out, whose default is ``None`` or a string and
    which a field validator of the class reads, with that default. Hummingbot's controller YAML
    holds every field, so such a validator runs live and makes the field what the controller
    reads (``pmm_simple``: ``buy_spreads: "0.01,0.02"`` a list, ``buy_amounts_pct: null`` equal
    amounts; ``bollinger_v1``: ``candles_connector: null`` the connector), while pydantic never
    validates a default."""
    validated = {name for v in cls.__pydantic_decorators__.field_validators.values() for name in v.info.fields}
    return {name: field.default for name, field in cls.model_fields.items()
            if name not in config and (field.default is None or isinstance(field.default, str))
            and not field.default_factory and ("*" in validated or name in validated)}


def as_lists(cls, config: dict) -> dict:
    """``config`` with each list field of ``cls`` given as one number (``0.01``) or as numbers
    separated by commas (``"0.01,0.02"``) made a list, so every controller takes both, whether
    or not its own validators parse strings; everything else as it is."""
    out = dict(config)
    for name, field in cls.model_fields.items():
        value = out.get(name)
        if typing.get_origin(field_class(field.annotation)) is not list:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = [value]
        elif isinstance(value, str) and value.strip():
            try:
                out[name] = [float(part) for part in value.split(",")]
            except ValueError:  # not numbers: the controller's to read
                pass
    return out


def config_to_dict(config) -> dict:
    """A config instance as Hummingbot's controller YAML holds it, JSON-safe: fields in the class's
    order, enums by value (``side: 1``, ``open_order_type: 3``, ``position_mode: HEDGE``),
    Decimals as floats, lists as lists and nested configs as mappings. Hummingbot's loader (and
    :func:`load_config`) turn it back into an equal config."""
    return json_value(config.model_dump(warnings=False))


def json_value(value):
    """A config value as Hummingbot's YAML writes it, JSON-safe: enums by value, Decimals as
    floats, pydantic models as mappings, containers likewise."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(warnings=False)
    return json_safe(_by_value(value))


def _by_value(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _by_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_by_value(v) for v in value]
    return value


def enums_by_value(cls, config: dict) -> dict:
    """``config`` (a dict for config class ``cls``) with enum fields given by member name (as
    hbopt recorded them before it wrote Hummingbot's values: ``side: BUY``) given by value, nested
    configs included; everything else as it is."""
    out = dict(config)
    for name, field in cls.model_fields.items():
        value, kind = out.get(name), field_class(field.annotation)
        if isinstance(value, str) and isinstance(kind, type) and issubclass(kind, enum.Enum) \
                and value in kind.__members__ and value not in {str(m.value) for m in kind}:
            out[name] = kind[value].value
        elif isinstance(value, dict) and isinstance(kind, type) and hasattr(kind, "model_fields"):
            out[name] = enums_by_value(kind, value)
    return out


def field_class(annotation):
    """The class of a field's annotation, ``Optional[X]`` read as ``X``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1 else annotation
