"""``data fetch`` with Binance's HTTP API played by a local server; Hummingbot's feed is real."""
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import pytest

from hbopt.cache import synth
from hbopt.cache.fetch import fetch
from hbopt.cache.store import CandleKey
from hbopt.errors import ConfigError, DataError
from tests.conftest import local_server, reply_json

KEY = CandleKey("binance_perpetual", "ETH-USDT", "1m")
EXCHANGE = synth.generate(4, "1m", seed=9)          # what the "exchange" has
NOW = float(EXCHANGE["timestamp"].iat[-1]) + 30      # mid-way through the last candle


class FakeBinance(BaseHTTPRequestHandler):
    """Answers /fapi/v1/klines from EXCHANGE like the real API (ms timestamps, inclusive range)."""

    requests: list = []
    while_serving = None  # called on each request: what another process does meanwhile

    def do_GET(self):
        url = urlparse(self.path)
        if url.path != "/fapi/v1/klines":
            self.send_error(404)
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        start, end, limit = int(query["startTime"]) / 1000, int(query["endTime"]) / 1000, int(query["limit"])
        FakeBinance.requests.append((start, end))
        FakeBinance.while_serving()
        rows = EXCHANGE[(EXCHANGE["timestamp"] >= start) & (EXCHANGE["timestamp"] <= end)].head(limit)
        reply_json(self, [[int(r.timestamp * 1000), str(r.open), str(r.high), str(r.low), str(r.close),
                           str(r.volume), int(r.timestamp * 1000 + 59_999), str(r.quote_asset_volume),
                           int(r.n_trades), str(r.taker_buy_base_volume), str(r.taker_buy_quote_volume), "0"]
                          for r in rows.itertuples()])

    def log_message(self, *args):
        pass


@pytest.fixture
def exchange(monkeypatch):
    from hummingbot.data_feed.candles_feed.binance_perpetual_candles import constants

    with local_server(FakeBinance) as url:
        monkeypatch.setattr(constants, "REST_URL", url)
        FakeBinance.requests = []
        FakeBinance.while_serving = lambda: None
        yield FakeBinance


def test_fetch_stores_closed_candles_and_then_appends_only_what_is_missing(store, exchange):
    first = fetch(KEY, days=2, store=store, now=NOW - 86400)
    stored = store.read(KEY)
    assert first["added"] == len(stored) > 2 * 1440 - 5
    assert stored["timestamp"].iat[-1] <= NOW - 86400 - 60  # the forming candle is never stored
    assert stored["close"].tolist() == EXCHANGE.set_index("timestamp").loc[stored["timestamp"], "close"].tolist()

    exchange.requests.clear()
    second = fetch(KEY, days=2, store=store, now=NOW)
    assert second["requested"] == [[first["last"] + 60, EXCHANGE["timestamp"].iat[-2]]]
    assert min(start for start, _ in exchange.requests) >= first["last"]
    assert store.read(KEY)["timestamp"].iat[-1] == EXCHANGE["timestamp"].iat[-2]
    assert store.info(KEY)["source"] == "fetch:binance_perpetual"

    exchange.requests.clear()
    assert fetch(KEY, days=1, store=store, now=NOW)["added"] == 0 and exchange.requests == []


def test_fetch_refuses_unknown_connectors_and_synthetic_files(store):
    with pytest.raises(ConfigError, match="no Hummingbot candle feed for connector 'nasdaq'"):
        fetch(CandleKey("nasdaq", "ETH-USDT", "1m"), days=1, store=store)
    store.add(KEY, synth.generate(1, seed=1), {"synthetic": True})
    with pytest.raises(DataError, match="synthetic"):
        fetch(KEY, days=1, store=store)


def test_candles_stored_by_another_writer_during_the_download_are_kept(store, exchange):
    earlier = EXCHANGE.iloc[:100]  # a day before the window fetched
    exchange.while_serving = lambda: store.add(KEY, earlier, {"source": "import:x.csv", "synthetic": False})
    report = fetch(KEY, days=2, store=store, now=NOW)
    stored = store.read(KEY)
    assert stored["timestamp"].iloc[:100].tolist() == earlier["timestamp"].tolist()
    assert report["rows"] == len(stored) == 100 + report["added"] and report["first"] == earlier["timestamp"].iat[0]
