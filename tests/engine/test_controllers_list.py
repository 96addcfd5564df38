"""``hbopt controllers list`` lists every controller, a broken one with its import error."""
import json

GOOD = '''
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase, DirectionalTradingControllerConfigBase)

SEARCH_SPACE = {"stop_loss": {"type": "float", "low": 0.01, "high": 0.05}}


class GoodConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "good"


class Good(DirectionalTradingControllerBase):
    pass
'''


def test_a_controller_whose_imports_fail_is_listed_with_its_error_and_the_rest_still_are(hbopt, tmp_path):
    folder = tmp_path / "mine" / "directional_trading"
    folder.mkdir(parents=True)
    (folder / "good.py").write_text(GOOD)
    (folder / "broken.py").write_text("raise ImportError('this controller needs TA-Lib')\n")
    run = hbopt("controllers", "list", "--controllers-path", folder.parent, "--json")
    assert run.code == 0, run.err
    rows = {r["name"]: r for r in json.loads(run.out)}
    assert rows["good"]["search_space"] == {"stop_loss": {"type": "float", "low": 0.01, "high": 0.05}}
    assert "error" not in rows["good"] and {"bollinger", "ma_cross", "pmm"} <= set(rows)
    assert rows["broken"]["search_space"] is None and rows["broken"]["error"] == (
        "cannot import controller broken: ImportError: this controller needs TA-Lib")
    shown = hbopt("controllers", "list", "--controllers-path", folder.parent)
    assert shown.code == 0 and "ImportError" in shown.out and "stop_loss" in shown.out  # in place of a space
