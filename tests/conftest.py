"""Shared fixtures: every test gets its own empty $HBOPT_HOME and mirror folder."""
from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
from http.server import ThreadingHTTPServer

import pytest

from hbopt.cache import synth
from hbopt.cache.mirror import Mirror
from hbopt.cache.store import CandleKey, CandleStore
from hbopt.cli import main

CONNECTOR, PAIR = "binance_perpetual", "BTC-USDT"
KEY_1M = CandleKey(CONNECTOR, PAIR, "1m")


@pytest.fixture(autouse=True)
def hbopt_env(tmp_path, monkeypatch):
    """Isolated store and mirror folders."""
    monkeypatch.setenv("HBOPT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HBOPT_MIRROR_DIR", str(tmp_path / "mirror"))
    monkeypatch.delenv("HBOPT_DEBUG", raising=False)
    monkeypatch.setenv("HBOPT_WAIT", "120")  # restored after the test: --wait sets it in-process
    return tmp_path


@pytest.fixture
def store() -> CandleStore:
    return CandleStore()


@pytest.fixture
def market(store):
    """12 days of seeded synthetic 1m candles in the store, mirrored. Returns the frame."""
    df = synth.generate(12, "1m", seed=11)
    store.add(KEY_1M, df, {"source": "synth", "synthetic": True})
    Mirror.default().refresh()
    return df


@contextlib.contextmanager
def local_server(handler):
    """An HTTP server on 127.0.0.1 answering with ``handler`` (a ``BaseHTTPRequestHandler``) in a
    thread, for as long as the block lasts; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def reply_json(handler, body) -> None:
    """Answer a request to ``handler`` with ``body`` as JSON, as an exchange's REST API does."""
    data = json.dumps(body).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def report_charts(path) -> set[str]:
    """The charts of an HTML report, by name, asserting that it opens offline: plotly.js inlined
    exactly once, no script fetched from anywhere."""
    page = path.read_text()
    assert page.count("* plotly.js v") == 1 and not re.search(r"<script[^>]*\ssrc=", page)
    return set(re.findall(r'<div id="chart-([^"]+)"', page))


def _controller_file(root, controller_type: str, name: str):
    """Where ``root/controller_type/NAME.py`` goes in a user's controllers folder, its packages made."""
    folder = root / controller_type
    folder.mkdir(parents=True, exist_ok=True)
    (root / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    return folder / f"{name}.py"


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def fields_controller(root, name: str, fields: str):
    """A user's controllers folder ``root`` (created) holding ``directional_trading/NAME.py``, a
    directional controller whose config adds ``fields`` (class body lines; ``Decimal`` and
    ``List`` imported). Returns ``root``."""
    _controller_file(root, "directional_trading", name).write_text(
        "from decimal import Decimal\n"
        "from typing import List\n"
        "from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (\n"
        "    DirectionalTradingControllerBase, DirectionalTradingControllerConfigBase)\n\n\n"
        f"class {_camel(name)}Config(DirectionalTradingControllerConfigBase):\n"
        f"    controller_name: str = '{name}'\n"
        + "".join(f"    {line.strip()}\n" for line in fields.strip().splitlines()) + "\n\n"
        f"class {_camel(name)}(DirectionalTradingControllerBase):\n"
        "    pass\n")
    return root


def signal_controller(root, name: str, signal: int):
    """A user's controllers folder ``root`` (created) holding ``directional_trading/NAME.py``, a
    directional controller whose signal is always ``signal`` (1 long, -1 short). Returns ``root``."""
    camel = _camel(name)
    _controller_file(root, "directional_trading", name).write_text(
        "import pandas as pd\n"
        "from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (\n"
        "    DirectionalTradingControllerBase, DirectionalTradingControllerConfigBase)\n\n\n"
        f"class {camel}Config(DirectionalTradingControllerConfigBase):\n"
        f"    controller_name: str = '{name}'\n\n\n"
        f"class {camel}(DirectionalTradingControllerBase):\n"
        "    async def update_processed_data(self):\n"
        f"        features = pd.DataFrame({{'timestamp': [0.0], 'signal': [{signal}]}})  # from the start\n"
        f"        self.processed_data = {{'signal': {signal}, 'features': features}}\n")
    return root


def dca_controller(root, name: str):
    """A user's controllers folder ``root`` (created) holding ``generic/NAME.py``, a generic
    controller that keeps one DCA executor open (take profit: its ``take_profit`` field; its
    ``levels``, 1 by default, 0.1% apart), which turbo hands to the stock engine (its
    ``turbo_fallback`` says why). Hummingbot's DCA simulator fails once two levels fill. Returns ``root``."""
    camel = _camel(name)
    _controller_file(root, "generic", name).write_text(
        "from decimal import Decimal\n\n"
        "from hummingbot.core.data_type.common import PriceType, TradeType\n"
        "from hummingbot.strategy_v2.controllers import ControllerBase, ControllerConfigBase\n"
        "from hummingbot.strategy_v2.executors.dca_executor.data_types import DCAExecutorConfig, DCAMode\n"
        "from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction\n\n\n"
        f"class {camel}Config(ControllerConfigBase):\n"
        "    controller_type: str = 'generic'\n"
        f"    controller_name: str = '{name}'\n"
        f"    connector_name: str = '{CONNECTOR}'\n"
        f"    trading_pair: str = '{PAIR}'\n"
        "    take_profit: float = 0.01\n"
        "    levels: int = 1\n\n\n"
        f"class {camel}(ControllerBase):\n"
        "    def determine_executor_actions(self):\n"
        "        if any(e.is_active for e in self.executors_info):\n"
        "            return []\n"
        "        price = Decimal(str(self.market_data_provider.get_price_by_type(\n"
        "            self.config.connector_name, self.config.trading_pair, PriceType.MidPrice)))\n"
        "        return [CreateExecutorAction(controller_id=self.config.id, executor_config=DCAExecutorConfig(\n"
        "            timestamp=self.market_data_provider.time(), connector_name=self.config.connector_name,\n"
        "            trading_pair=self.config.trading_pair, side=TradeType.BUY, mode=DCAMode.MAKER,\n"
        "            amounts_quote=[Decimal(50)] * self.config.levels,\n"
        "            prices=[price * (1 - Decimal('0.001') * (n + 1)) for n in range(self.config.levels)],\n"
        "            take_profit=Decimal(str(self.config.take_profit)), stop_loss=Decimal('0.05'), time_limit=3600))]\n\n"
        "    async def update_processed_data(self):\n"
        "        pass\n")
    return root


class Run:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def hbopt(capsys, monkeypatch):
    """Run the hbopt CLI in-process: ``hbopt("data", "list")`` -> Run(code, out, err)."""
    def run(*args):
        monkeypatch.setattr(sys, "argv", ["hbopt", *map(str, args)])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)
    return run
