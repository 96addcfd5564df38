"""A study's best trials as a folder laid out like a Hummingbot install, to copy into one as it is::

    OUT/conf/controllers/STUDY_RANK_PAIR.yml   a controller config per trial and pair
    OUT/conf/scripts/STUDY_RANK.yml            a v2_with_controllers script config running rank RANK
    OUT/controllers/TYPE/CONTROLLER.py         the controller's source, with its packages' __init__.py

Each config is the trial's, loaded and validated as hbopt loaded it for the study, with ``id``
set to its file's name, and written as Hummingbot's own config YAML holds it
(:func:`~hbopt.engine.controllers.config_to_dict`: enums by value, Decimals as floats), so
Hummingbot's loader (``controllers_module="controllers"``) reads back the config the study ran.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
from pathlib import Path

import yaml

from hbopt.engine.controllers import config_class, config_to_dict, controllers_module, enums_by_value, load_config
from hbopt.errors import ConfigError
from hbopt.files import write_text_atomic
from hbopt.search.storage import StudyFolder
from hbopt.search.studies import require_ranked

SCRIPT = "v2_with_controllers.py"  # Hummingbot's script that runs controller configs


def export_configs(name: str, best_n: int, out_dir: Path, controllers_path: Path | None = None) -> dict:
    """Write study ``name``'s ``best_n`` best trials into ``out_dir`` (see the module). A user's
    controller is found in ``controllers_path``, else in the folder the study recorded (a changed
    controller is warned of, not refused). Returns the files written (``configs``, ``scripts``,
    ``controllers``) and ``warnings``."""
    folder = StudyFolder(name)
    study, manifest = folder.load(), folder.manifest()
    user_module = controllers_module(controllers_path or manifest.get("controllers_path"))
    spec = manifest["spec"]
    trials = require_ranked(name, study)[:best_n]
    controller_type, controller = spec["controller_type"], spec["controller"]
    try:
        cls = config_class(controller_type, controller, user_module)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; export needs the controller study {name} ran: pass its --controllers-path") from None
    out_dir = Path(out_dir)
    written = {"folder": str(out_dir), "configs": [], "scripts": [], "controllers": [], "warnings": []}
    for rank, trial in enumerate(trials, start=1):
        names = []
        for recorded in trial.user_attrs.get("configs") or []:
            stem = f"{name}_{rank}_{recorded['trading_pair']}"
            config = load_config({**enums_by_value(cls, recorded), "id": stem}, user_module)
            path = out_dir / "conf" / "controllers" / f"{stem}.yml"
            write_text_atomic(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))
            written["configs"].append(str(path))
            names.append(path.name)
        script = out_dir / "conf" / "scripts" / f"{name}_{rank}.yml"
        write_text_atomic(script, yaml.safe_dump({"script_file_name": SCRIPT, "controllers_config": names},
                                                 sort_keys=False))
        written["scripts"].append(str(script))
    source = inspect.getsource(importlib.import_module(cls.__module__))
    written["controllers"].append(_write_source(out_dir / "controllers", controller_type, controller, source))
    if hashlib.sha256(source.encode()).hexdigest() != manifest.get("controller_source_sha256"):
        written["warnings"].append(f"controller {controller}'s source has changed since study {name} was created: "
                                   "the exported source is today's, the trials' figures are the old source's")
    return written


def _write_source(root: Path, controller_type: str, controller: str, source: str) -> str:
    """``source`` as ``root/TYPE/CONTROLLER.py``, with an empty ``__init__.py`` in ``root`` and
    ``root/TYPE`` where there is none (a Hummingbot install's are empty too)."""
    path = root / controller_type / f"{controller}.py"
    write_text_atomic(path, source)
    for package in (root, root / controller_type):
        if not (package / "__init__.py").exists():
            write_text_atomic(package / "__init__.py", "")
    return str(path)
