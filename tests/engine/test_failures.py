"""Every failure of a backtest has its exit code and one line: the controller's code or Hummingbot
raising is exit 8 naming the file and line; bad values and windows are 4 and 3, never 1."""
import pytest

from hbopt.search.storage import StudyFolder
from tests.conftest import CONNECTOR, PAIR

BROKEN = '''
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase,
    DirectionalTradingControllerConfigBase,
)


class BrokenConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "broken"


class Broken(DirectionalTradingControllerBase):
    async def update_processed_data(self):
        candles = self.market_data_provider.get_candles_df(self.config.connector_name, self.config.trading_pair, "1m")
        self.processed_data = {"signal": 0, "features": len(candles) + "x"}  # line 15: a TypeError
'''

RENAMED = '''
import numpy as np
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase,
    DirectionalTradingControllerConfigBase,
)


class RenamedConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "renamed"


class Renamed(DirectionalTradingControllerBase):
    """Reads an indicator column under a name the library no longer writes: NaN on every row."""

    def get_candles_config(self):
        return [CandlesConfig(connector=self.config.connector_name, trading_pair=self.config.trading_pair,
                              interval="1m", max_records=20)]

    async def update_processed_data(self):
        df = self.market_data_provider.get_candles_df(self.config.connector_name, self.config.trading_pair, "1m")
        df["BBP_20_2.0"] = df.get("BBP_20_2.0_2.0", np.nan)
        df["signal"] = np.where(df["BBP_20_2.0"] < 0, 1, 0)
        self.processed_data = {"signal": 0, "features": df}
'''

UNSOURCED = '''
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase,
    DirectionalTradingControllerConfigBase,
)


class UnsourcedConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "unsourced"
    candles_connector: str = None  # as in Hummingbot's bollinger_v1: filled by a validator that skips defaults


class Unsourced(DirectionalTradingControllerBase):
    def get_candles_config(self):
        return [CandlesConfig(connector=self.config.candles_connector,  # line 16: a ValidationError
                              trading_pair=self.config.trading_pair, interval="1m", max_records=20)]

    async def update_processed_data(self):
        self.processed_data = {"signal": 0}
'''

DCA = '''
from decimal import Decimal

from hummingbot.core.data_type.common import PriceType, TradeType
from hummingbot.strategy_v2.controllers.controller_base import ControllerBase, ControllerConfigBase
from hummingbot.strategy_v2.executors.dca_executor.data_types import DCAExecutorConfig
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction


class LadderConfig(ControllerConfigBase):
    controller_name: str = "ladder"
    connector_name: str = "binance_perpetual"
    trading_pair: str = "BTC-USDT"


class Ladder(ControllerBase):
    """Buys a two-rung DCA ladder once, both rungs at or above the price so both fill at once; no
    stop loss. Hummingbot's DCA simulator then indexes a third rung that does not exist."""

    async def update_processed_data(self):
        pass

    def determine_executor_actions(self):
        if self.executors_info:
            return []
        price = Decimal(self.market_data_provider.get_price_by_type(self.config.connector_name,
                                                                    self.config.trading_pair, PriceType.MidPrice))
        ladder = DCAExecutorConfig(timestamp=self.market_data_provider.time(), connector_name=self.config.connector_name,
                                   trading_pair=self.config.trading_pair, side=TradeType.BUY,
                                   amounts_quote=[Decimal(50), Decimal(50)], prices=[price * 2, price],
                                   time_limit=3600)
        return [CreateExecutorAction(controller_id=self.config.id, executor_config=ladder)]
'''


@pytest.fixture
def user_controllers(tmp_path):
    root = tmp_path / "failing_controllers"
    for folder, name, source in (("directional_trading", "broken", BROKEN), ("directional_trading", "renamed", RENAMED),
                                 ("directional_trading", "unsourced", UNSOURCED),
                                 ("generic", "ladder", DCA)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{name}.py").write_text(source)
    return root


def one_line(run) -> str:
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.err and "internal error" not in run.err, run.err
    return lines[0]


def backtest(hbopt, *args):
    return hbopt("backtest", "--connector", CONNECTOR, "--pair", PAIR, "--days", "1", *args)


def test_an_exception_in_the_controllers_code_is_exit_8_naming_its_file_and_line(market, hbopt, user_controllers):
    run = backtest(hbopt, "--controllers-path", user_controllers, "--controller", "broken")
    assert run.code == 8
    line = one_line(run)
    assert line.startswith("error: the controller raised TypeError: ")
    assert line.endswith(f"{user_controllers / 'directional_trading' / 'broken.py'}:15 in update_processed_data)")


def test_hummingbot_refusing_a_value_is_exit_8_naming_where(market, hbopt):
    run = backtest(hbopt, "--controller", "bollinger", "--set", "leverage=0", "--set", "bb_length=20",
                   "--set", "bb_std=0.5")
    assert run.code == 8
    line = one_line(run)
    assert line.startswith("error: Hummingbot raised ValidationError: ")
    assert "leverage" in line and "directional_trading_controller_base.py:" in line


def test_hummingbots_failing_dca_simulator_is_exit_8_naming_its_line(market, hbopt, user_controllers):
    run = backtest(hbopt, "--controllers-path", user_controllers, "--controller", "ladder", "--costs", "hummingbot")
    assert run.code == 8
    line = one_line(run)
    assert line.startswith("error: Hummingbot raised ")
    assert "hummingbot/strategy_v2/backtesting/executors_simulator/dca_executor_simulator.py:" in line


def test_an_indicator_column_nan_on_every_row_is_named_not_blamed_on_the_window(market, hbopt, user_controllers):
    run = backtest(hbopt, "--controllers-path", user_controllers, "--controller", "renamed")
    assert run.code == 8
    line = one_line(run)
    assert "no row of the controller's 1441 feature rows is complete" in line and "BBP_20_2.0 (1441 NaN)" in line


def test_the_controller_raising_while_discover_plans_its_windows_is_exit_8_and_leaves_no_study(
        market, hbopt, user_controllers, tmp_path):
    study = tmp_path / "study.yml"
    study.write_text("space: {stop_loss: {type: float, low: 0.01, high: 0.03, step: 0.01}}\n")
    run = hbopt("discover", study, "--controllers-path", user_controllers, "--controller", "unsourced", "--connector",
                CONNECTOR, "--pairs", PAIR, "--days", "8", "--turbo", "--iter", "2", "--workers", "1",
                "--study", "unsourced", "--no-report")
    assert run.code == 8
    line = one_line(run)
    assert line.startswith("error: the controller raised ValidationError: CandlesConfig: connector: ")
    assert line.endswith(f"{user_controllers / 'directional_trading' / 'unsourced.py'}:16 in get_candles_config)")
    assert not StudyFolder("unsourced").exists() and not StudyFolder("unsourced").journal_path.exists()


@pytest.mark.parametrize("args, code, message", [
    (["--controller", "bollinger", "--days", "nan"], 4, "days must be a finite number, not nan"),
    (["--controller", "bollinger", "--trade-cost", "inf"], 4, "trade_cost must be a finite number, not inf"),
    (["--controller", "bollinger", "--set", "bb_length=300", "--days", "0.1"], 3, "use a longer window"),
])
def test_bad_values_and_windows_are_config_and_data_errors(market, hbopt, args, code, message):
    run = hbopt("backtest", "--connector", CONNECTOR, "--pair", PAIR, *args)
    assert run.code == code and message in one_line(run)
