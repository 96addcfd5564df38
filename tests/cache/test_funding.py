"""Funding rates of perpetual pairs: imported from the files exchanges publish, downloaded from
their REST APIs (played by a local server), synthesised beside synthetic candles, stored and
mirrored like candles."""
import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from hbopt.cache import funding, synth
from hbopt.cache.fetch import fetch_funding
from hbopt.cache.importers import import_funding
from hbopt.cache.mirror import Mirror
from hbopt.cache.store import CandleKey
from hbopt.errors import ConfigError, DataError
from tests.conftest import local_server, reply_json

KEY = CandleKey("binance_perpetual", "BTC-USDT", funding.FUNDING)
T0 = 1_735_689_600  # 2025-01-01 00:00 UTC
EIGHT_HOURS = 8 * 3600
# Binance's monthly dump: ms calc times, a few ms late as Binance stamps them, rates as fractions
BINANCE_DUMP = ("calc_time,funding_interval_hours,last_funding_rate\n"
                f"{T0 * 1000 + 3},8,0.00010000\n{(T0 + EIGHT_HOURS) * 1000},8,0.00008411\n"
                f"{(T0 + 2 * EIGHT_HOURS) * 1000 + 1},8,-0.00002500\n")


def test_binances_funding_dump_imports_to_seconds_and_fractions(tmp_path, store):
    path = tmp_path / "BTCUSDT-fundingRate-2025-01.csv"
    path.write_text(BINANCE_DUMP)
    report = import_funding(path, "binance_perpetual", "BTC-USDT", store=store)
    assert (report["rows"], report["interval_hours"], report["converted_from_ms"]) == (3, 8.0, 3)
    stored = store.read(KEY)
    assert stored["timestamp"].tolist() == [T0, T0 + EIGHT_HOURS, T0 + 2 * EIGHT_HOURS]
    assert stored["rate"].tolist() == [0.0001, 0.00008411, -0.000025]


@pytest.mark.parametrize("text", [
    "timestamp,funding_rate\n2025-01-01 00:00:00,0.0001\n2025-01-01 08:00:00,0.00008411\n",
    "fundingTime,fundingRate,symbol\n1735689600000,0.0001,BTCUSDT\n1735718400000,0.00008411,BTCUSDT\n",
    "1735689600000,8,0.0001\n1735718400000,8,0.00008411\n",       # Binance's dump without its header
    "1735689600,0.0001\n1735718400,0.00008411\n",                  # timestamp,rate without a header
])
def test_plain_and_rest_layouts_import_alike(tmp_path, store, text):
    path = tmp_path / "rates.csv"
    path.write_text(text)
    import_funding(path, "binance_perpetual", "BTC-USDT", store=store)
    assert store.read(KEY).values.tolist() == [[T0, 0.0001], [T0 + EIGHT_HOURS, 0.00008411]]


@pytest.mark.parametrize("text, message", [
    ("timestamp,funding_rate\n1735689600,1.5\n", r"row 1 \(timestamp 1735689600\): rate is 0.1 or more"),
    ("timestamp,funding_rate\n1735689600,\n", "row 1 .*rate is missing"),
    ("time,price\n1735689600,1\n", "missing funding column"),
    ("1735689600,8,0.0001,9\n", "header-less funding CSV must be"),
])
def test_a_misread_funding_file_is_refused_and_nothing_is_stored(tmp_path, store, text, message):
    path = tmp_path / "rates.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        import_funding(path, "binance_perpetual", "BTC-USDT", store=store)
    assert not store.exists(KEY)


def test_spot_pairs_have_no_funding(tmp_path, store):
    path = tmp_path / "rates.csv"
    path.write_text(BINANCE_DUMP)
    with pytest.raises(DataError, match="binance is not a perpetual connector"):
        import_funding(path, "binance", "BTC-USDT", store=store)


def test_the_mirror_carries_funding_beside_the_candles(tmp_path, store):
    path = tmp_path / "rates.csv"
    path.write_text(BINANCE_DUMP)
    import_funding(path, "binance_perpetual", "BTC-USDT", store=store)
    store.add(CandleKey("binance_perpetual", "BTC-USDT", "1m"), synth.generate(1, "1m", end=T0 + 86400),
              {"synthetic": True})
    mirror = Mirror.default()
    assert sorted(mirror.refresh()["copied"]) == ["binance_perpetual|BTC-USDT|1m", "binance_perpetual|BTC-USDT|funding"]
    rates = mirror.load("binance_perpetual", "BTC-USDT", funding.FUNDING)
    assert isinstance(rates, np.memmap) and rates.tolist() == store.read(KEY).values.tolist()
    assert mirror.is_fresh() and mirror.load("binance_perpetual", "BTC-USDT", "1h").shape[1] == 10
    with pytest.raises(DataError, match="no funding rates mirrored for binance_perpetual ETH-USDT"):
        mirror.load("binance_perpetual", "ETH-USDT", funding.FUNDING)


def test_a_synthetic_perpetual_pays_plausible_funding_every_8_hours(hbopt, store):
    assert hbopt("data", "synth", "--connector", "binance_perpetual", "--pair", "BTC-USDT", "--days", 30).code == 0
    rates = store.read(KEY)
    assert np.all(np.diff(rates["timestamp"]) == EIGHT_HOURS) and len(rates) == 90
    assert 0.00005 < rates["rate"].mean() < 0.0003 and (rates["rate"] < 0).any() and rates["rate"].abs().max() <= 0.003
    assert store.read(KEY).equals(rates)  # deterministic: a second synth of the seed is the same
    listed = hbopt("data", "list", "--json")
    assert {(i["interval"], i["rows"]) for i in json.loads(listed.out)} >= {("1m", 30 * 1440), ("funding", 90)}


def test_markets_built_to_hold_no_edge_pay_no_funding_and_spot_pairs_none_at_all(hbopt, store):
    hbopt("data", "synth", "--connector", "binance_perpetual", "--pair", "BTC-USDT", "--days", 3, "--regime", "walk")
    assert store.read(KEY)["rate"].eq(0).all()
    hbopt("data", "synth", "--connector", "binance", "--pair", "ETH-USDT", "--days", 3)
    assert not store.exists(CandleKey("binance", "ETH-USDT", funding.FUNDING))


def test_funding_is_no_candle_interval(hbopt, tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text(BINANCE_DUMP)
    wrong = hbopt("data", "import", path, "--connector", "binance_perpetual", "--pair", "BTC-USDT", "--interval",
                  "funding")
    assert wrong.code == 2 and "pass --funding" in wrong.err
    both = hbopt("data", "import", path, "--funding", "--connector", "binance_perpetual", "--pair", "BTC-USDT",
                 "--interval", "1h")
    assert both.code == 2 and "--interval does not apply to --funding" in both.err
    done = hbopt("data", "import", path, "--funding", "--connector", "binance_perpetual", "--pair", "BTC-USDT")
    assert done.code == 0 and "imported 3 funding rates" in done.out and "every 8 h" in done.out


# ------------------------------------------------------------------------------ downloading
RATES = [(T0 + i * EIGHT_HOURS, round(0.0001 + 0.00001 * np.sin(i), 8)) for i in range(60)]  # 20 days


class FakeExchange(BaseHTTPRequestHandler):
    """Binance's /fapi/v1/fundingRate (oldest first) and Bybit's /v5/market/funding/history
    (newest first), each with its own page size, from RATES, ms timestamps, inclusive ranges."""

    requests: list = []
    page = 7

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        start, end = int(query["startTime"]), int(query["endTime"])
        inside = [(t * 1000, r) for t, r in RATES if start <= t * 1000 <= end]
        FakeExchange.requests.append((url.path, start // 1000, end // 1000))
        limit = min(int(query["limit"]), self.page)
        if url.path == "/fapi/v1/fundingRate" and query["symbol"] == "BTCUSDT":
            body = [{"symbol": "BTCUSDT", "fundingTime": t, "fundingRate": f"{r:.8f}", "markPrice": "1"}
                    for t, r in inside[:limit]]
        elif url.path == "/v5/market/funding/history" and query["category"] == "linear":
            body = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [
                {"symbol": "BTCUSDT", "fundingRate": f"{r:.8f}", "fundingRateTimestamp": str(t)}
                for t, r in inside[::-1][:limit]]}}
        else:
            return self.send_error(404)
        reply_json(self, body)

    def log_message(self, *args):
        pass


@pytest.fixture
def exchange(monkeypatch):
    FakeExchange.requests = []
    monkeypatch.setattr("hbopt.cache.fetch._FUNDING_PAGE", {"binance_perpetual": 7, "bybit_perpetual": 5})
    with local_server(FakeExchange) as url:
        yield url


@pytest.mark.parametrize("connector", ["binance_perpetual", "bybit_perpetual"])
def test_fetch_pages_through_the_history_and_then_asks_only_for_what_is_new(store, exchange, connector):
    key = CandleKey(connector, "BTC-USDT", funding.FUNDING)
    now = RATES[-1][0] + 60
    first = fetch_funding(connector, "BTC-USDT", days=10, base_url=exchange, store=store, now=now - 5 * 86400)
    stored = store.read(key)
    assert first["added"] == len(stored) == 30 and len(FakeExchange.requests) > 30 // 7
    assert stored.values.tolist() == [[t, r] for t, r in RATES if now - 15 * 86400 <= t <= now - 5 * 86400]

    FakeExchange.requests.clear()
    second = fetch_funding(connector, "BTC-USDT", days=10, base_url=exchange, store=store, now=now)
    assert second["added"] == 15 and min(start for _, start, _ in FakeExchange.requests) > first["last"]
    assert store.read(key)["timestamp"].iat[-1] == RATES[-1][0] and store.info(key)["source"] == f"fetch:{connector}"


def test_fetch_refuses_exchanges_it_cannot_ask_and_says_why_a_download_failed(store, hbopt):
    with pytest.raises(ConfigError, match="no funding-rate download for connector 'okx_perpetual'"):
        fetch_funding("okx_perpetual", "BTC-USDT", days=1, store=store)
    down = hbopt("data", "fetch", "--funding", "--connector", "binance_perpetual", "--pair", "BTC-USDT",
                 "--base-url", "http://127.0.0.1:9")
    assert down.code != 0 and "fetching http://127.0.0.1:9/fapi/v1/fundingRate failed" in down.err
    assert not store.exists(KEY)
    candles = hbopt("data", "fetch", "--connector", "binance_perpetual", "--pair", "BTC-USDT", "--base-url", "x")
    assert candles.code == 2 and "--base-url only goes with --funding" in candles.err


def test_a_synthetic_perpetuals_funding_reaches_the_account_and_the_terminal(hbopt):
    """From `data synth` to the backtest's account through the mirror, as a user runs it."""
    hbopt("data", "synth", "--connector", "binance_perpetual", "--pair", "BTC-USDT", "--days", 4, "--seed", 3)
    args = ("backtest", "--controller", "market_maker", "--connector", "binance_perpetual", "--pair", "BTC-USDT",
            "--days", 3, "--turbo")
    result = json.loads(hbopt(*args, "--json").out)
    assert result["costs"]["model"] == "exchange" and result["account"]["funding_quote"] != 0
    assert not any("funding" in w for w in result["warnings"])
    shown = hbopt(*args)
    assert shown.code == 0 and "margin, funding" in shown.out and "funding (quote, + paid)" in shown.out
