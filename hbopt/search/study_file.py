"""What hbopt knows of a controller before a search (``hbopt controllers show``), and the
commented study file that starts one (``hbopt space init NAME > study.yml``)."""
from __future__ import annotations

import yaml

from hbopt.search.spec import DEFAULT_HOLDOUT, DEFAULT_OBJECTIVE, controller_relations, shipped_or_inferred_space


def controller_details(name: str, user_module: str | None) -> dict:
    """Controller ``name``'s ``type``, its config ``fields``
    (:func:`hbopt.search.fields.describe`), the ``search_space`` hbopt would use, where that
    came from (``search_space_source``: shipped or inferred) and its ``relations``."""
    from hbopt.engine.controllers import config_class, controller_type_of, default_objective, search_space
    from hbopt.search.fields import describe

    controller_type = controller_type_of(name, user_module)
    space = shipped_or_inferred_space(controller_type, name, user_module)
    return {"name": name, "type": controller_type,
            "fields": describe(config_class(controller_type, name, user_module)),
            "search_space": space,
            "search_space_source": "shipped" if search_space(controller_type, name, user_module) else "inferred",
            "relations": controller_relations(controller_type, name, user_module, list(space)),
            "objective": default_objective(controller_type, name, user_module) or DEFAULT_OBJECTIVE}


def study_file_text(details: dict, controllers_path=None) -> str:
    """A study file of the controller :func:`controller_details` describes: its search space and
    relations to edit, every other field listed (commented out, at its default) under ``fixed``,
    the required ones marked, and the other settings at their defaults. It runs as it is once
    the required fields are set."""
    name, fields = details["name"], details["fields"]
    by_name = {f["name"]: f for f in fields}
    run = "hbopt discover study.yml" + (f" --controllers-path {controllers_path}" if controllers_path else "")
    lines = [f"# A study of {name} ({details['type']}) for hbopt discover and walkforward: {run}",
             "# Every setting but the controller is optional; a command-line option overrides the file's.",
             f"controller: {name}",
             f"# connector: {_flow(by_name.get('connector_name', {}).get('default'))}   # default: the controller's",
             "# pairs: ALL                 # or [BTC-USDT, ETH-USDT]; ALL: every pair stored for the connector",
             "fixed:                       # config fields every trial shares (the others keep their defaults)"]
    hidden = {"id", "controller_name", "controller_type", "connector_name", "trading_pair"}
    for field in fields:
        if field["name"] in details["search_space"] or field["name"] in hidden:
            continue
        if field["required"]:
            lines.append(f"  # {field['name']}:   # {field['type']}: REQUIRED, no default; set it here or with --set")
        else:
            lines.append(f"  # {field['name']}: {_flow(field['default'])}   # {field['type']}")
    lines.append(f"space:                       # {details['search_space_source']}"
                 + (" by the controller" if details["search_space_source"] == "shipped" else
                    " from the config's defaults (README: Controllers)") + "; edit the ranges")
    for param, spec in details["search_space"].items():
        default = by_name.get(param, {}).get("default")
        lines.append(f"  {param}: {_flow(spec)}" + (f"   # default {_flow(default)}" if param in by_name else ""))
    lines += [f"relations: {_flow(details['relations'])}   # e.g. [slow > fast]: a point breaking one is never run",
              f"objective: {details['objective']}   # or account.sharpe, or a list for a Pareto front",
              "# constraints: {min_executors: 20, max_drawdown: 0.25}",
              "window: {days: 90}           # or {start: 2025-01-01, end: 2025-04-01}",
              f"holdout: {DEFAULT_HOLDOUT}                # the window's last quarter judges the best, unseen",
              "costs: exchange              # or hummingbot, or {model: exchange, maker_fee: 0.0002, slippage_bps: 2}",
              "sampler: tpe                 # tpe | random | grid | nsga2",
              "# seed: 1"]
    return "\n".join(lines) + "\n"


def _flow(value) -> str:
    """``value`` as one line of YAML."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip().removesuffix("\n...")
