"""hbopt data download: Binance's public dump layout served by a local HTTP server, with the
faults real downloads meet (a damaged file, an unpublished month, a dropped connection, a kill)."""
from __future__ import annotations

import calendar
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from datetime import date
from http.server import BaseHTTPRequestHandler

import pandas as pd
import pytest

from hbopt.cache import synth
from hbopt.cache.download import download, dump_files
from hbopt.cache.store import CandleKey
from hbopt.errors import ConfigError
from tests.cache.test_sources import binance_rows
from tests.conftest import local_server

KEY = CandleKey("binance_perpetual", "BTC-USDT", "1h")
FOLDER = "data/futures/um/monthly/klines/BTCUSDT/1h"
ARGS = ["--connector", "binance_perpetual", "--pair", "BTC-USDT", "--interval", "1h"]


def day(text: str) -> int:
    return calendar.timegm(date.fromisoformat(text).timetuple())


@pytest.fixture(scope="module")
def candles():
    """Hourly candles from 2025-01-01 to 2025-04-01."""
    return synth.generate(90, "1h", seed=4, end=day("2025-04-01"))


def zipped(name: str, rows: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name.replace(".zip", ".csv"), rows.to_csv(index=False, header=False))
    return buffer.getvalue()


class Host:
    """The files of a Binance dump host (path -> bytes, each with its ``.CHECKSUM``), the requests
    it was sent, and its faults: ``damaged`` paths are served with a byte flipped, ``drop_once``
    paths close the connection halfway the first time, ``hold`` paths wait for ``release``."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.damaged, self.drop_once, self.hold = set(), set(), set()
        self.release = threading.Event()
        self.held = threading.Event()

    def publish(self, path: str, data: bytes) -> None:
        name = path.rsplit("/", 1)[1]
        self.files[path] = data
        self.files[path + ".CHECKSUM"] = f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()

    def months(self, candles: pd.DataFrame, folder: str = FOLDER, symbol: str = "BTCUSDT-1h") -> None:
        stamps = pd.to_datetime(candles["timestamp"], unit="s")
        for month, rows in candles.groupby(stamps.dt.to_period("M")):
            self.publish(f"{folder}/{symbol}-{month}.zip", zipped(f"{symbol}-{month}.zip", binance_rows(rows)))

    def zips_asked(self) -> list[str]:
        return [path.rsplit("/", 1)[1] for path, _ in self.requests if path.endswith(".zip")]

    def handler(self):
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.lstrip("/")
                host.requests.append((path, self.headers.get("Range")))
                if path not in host.files:
                    self.send_error(404)
                    return
                data = host.files[path]
                if path in host.damaged:
                    data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
                if path in host.hold:
                    host.held.set()
                    host.release.wait(30)
                offset = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
                self.send_response(206 if offset else 200)
                self.send_header("Content-Length", str(len(data) - offset))
                self.end_headers()
                if path in host.drop_once:
                    host.drop_once.discard(path)
                    self.wfile.write(data[offset:len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[offset:])
        return Handler


@pytest.fixture
def host(candles):
    h = Host()
    h.months(candles)
    with local_server(h.handler()) as url:
        h.url = url
        yield h
        h.release.set()


def test_months_are_downloaded_verified_and_stored_and_a_second_run_asks_for_nothing(host, store, candles, hbopt):
    run = hbopt("data", "download", *ARGS, "--start", "2025-01-01", "--end", "2025-03-31",
                "--base-url", host.url, "--json")
    assert run.code == 0, run.err
    [report] = json.loads(run.out)["pairs"]
    assert (report["files"], report["downloaded"], report["skipped"], report["missing"]) == (3, 3, 0, [])
    assert report["added"] == len(candles) == report["rows"]
    pd.testing.assert_frame_equal(store.read(KEY)[["timestamp", "close"]], candles[["timestamp", "close"]])
    assert store.info(KEY)["source"] == "download:binance/futures/um/klines/BTCUSDT/1h"
    assert sorted(p for p, _ in host.requests) == [f"{FOLDER}/BTCUSDT-1h-2025-0{m}.zip{tail}"
                                                   for m in (1, 2, 3) for tail in ("", ".CHECKSUM")]
    assert not (store.root.parent / "downloads").exists() or not any((store.root.parent / "downloads").rglob("*.zip"))

    host.requests.clear()
    again = hbopt("data", "download", *ARGS, "--start", "2025-01-01", "--end", "2025-03-31", "--base-url", host.url)
    assert again.code == 0, again.err
    assert host.requests == [] and "3 already stored" in again.out


def publish_days(host, candles, month: str, days: range) -> None:
    for n in days:
        stamp = day(f"{month}-{n:02d}")
        path = f"data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-{month}-{n:02d}.zip"
        rows = candles[(candles["timestamp"] >= stamp) & (candles["timestamp"] < stamp + 86400)]
        host.publish(path, zipped(path.rsplit("/", 1)[1], binance_rows(rows)))


def test_the_current_month_comes_in_daily_files_up_to_yesterday(host, store, candles):
    publish_days(host, candles, "2025-03", range(1, 4))
    names = [f.name for f in dump_files("binance_perpetual", "BTC-USDT", "1h", date(2025, 2, 1), date(2025, 3, 31),
                                        today=date(2025, 3, 4))]
    assert names == ["BTCUSDT-1h-2025-02.zip"] + [f"BTCUSDT-1h-2025-03-0{n}.zip" for n in (1, 2, 3)]
    [report] = download("binance_perpetual", ["BTC-USDT"], "1h", date(2025, 1, 1), date(2025, 3, 31),
                        base_url=host.url, today=date(2025, 3, 4), store=store)["pairs"]
    assert report["downloaded"] == 5 and report["last"] == day("2025-03-04") - 3600


def test_last_months_file_not_out_yet_is_replaced_by_its_daily_files(host, store, candles):
    publish_days(host, candles, "2025-03", range(1, 32))
    del host.files[f"{FOLDER}/BTCUSDT-1h-2025-03.zip"]
    [report] = download("binance_perpetual", ["BTC-USDT"], "1h", date(2025, 3, 1), date(2025, 3, 31),
                        base_url=host.url, today=date(2025, 4, 2), store=store)["pairs"]
    assert (report["missing"], report["downloaded"], report["rows"]) == ([], 31, 31 * 24)


def test_an_unpublished_month_is_reported_and_the_others_are_stored(host, store, candles, hbopt):
    del host.files[f"{FOLDER}/BTCUSDT-1h-2025-02.zip"]
    run = hbopt("data", "download", *ARGS, "--start", "2025-01-01", "--end", "2025-03-31", "--base-url", host.url)
    assert run.code == 0, run.err
    assert "not published: BTCUSDT-1h-2025-02.zip" in run.out
    stored = store.read(KEY)["timestamp"]
    assert not stored.between(day("2025-02-01"), day("2025-03-01") - 1).any()
    assert len(stored) == len(candles) - 28 * 24


def test_a_damaged_file_stores_nothing_of_its_pair_and_the_next_run_downloads_only_it(host, store, candles, hbopt):
    damaged = f"{FOLDER}/BTCUSDT-1h-2025-02.zip"
    host.damaged.add(damaged)
    run = hbopt("data", "download", *ARGS, "--start", "2025-01-01", "--end", "2025-03-31", "--base-url", host.url)
    assert run.code == 3 and "BTCUSDT-1h-2025-02.zip: its SHA-256 is not the one its .CHECKSUM holds" in run.err
    assert "run the same command again" in run.err and not store.exists(KEY)
    assert host.zips_asked().count("BTCUSDT-1h-2025-02.zip") == 3  # every try downloaded it afresh

    host.damaged.clear()
    host.requests.clear()
    again = hbopt("data", "download", *ARGS, "--start", "2025-01-01", "--end", "2025-03-31", "--base-url", host.url,
                  "--json")
    assert again.code == 0, again.err
    assert host.zips_asked() == ["BTCUSDT-1h-2025-02.zip"]
    [report] = json.loads(again.out)["pairs"]
    assert (report["resumed"], report["downloaded"], report["rows"]) == (2, 1, len(candles))


def test_a_connection_dropped_mid_file_resumes_from_where_it_stopped(host, store, candles, hbopt):
    path = f"{FOLDER}/BTCUSDT-1h-2025-02.zip"
    host.drop_once.add(path)
    run = hbopt("data", "download", *ARGS, "--start", "2025-02-01", "--end", "2025-02-28", "--base-url", host.url)
    assert run.code == 0, run.err
    asked = [r for p, r in host.requests if p == path]
    assert asked == [None, f"bytes={len(host.files[path]) // 2}-"]
    assert store.info(KEY)["rows"] == 28 * 24


def test_a_killed_download_resumes_without_fetching_again_what_it_had_verified(host, store, candles, tmp_path):
    host.hold.add(f"{FOLDER}/BTCUSDT-1h-2025-03.zip")
    command = [sys.executable, "-m", "hbopt", "data", "download", *ARGS, "--start", "2025-01-01",
               "--end", "2025-03-31", "--base-url", host.url, "--jobs", "1"]
    process = subprocess.Popen(command, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert host.held.wait(60), process.communicate(timeout=5)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    host.release.set()
    time.sleep(0.1)
    assert not store.exists(KEY)
    host.hold.clear()
    host.requests.clear()
    finished = subprocess.run(command, env=os.environ, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert host.zips_asked() == ["BTCUSDT-1h-2025-03.zip"] and "2 resumed" in finished.stdout
    assert store.info(KEY)["rows"] == len(candles)


def test_funding_rate_dumps_download_into_the_pairs_funding_series(host, store):
    stamps = pd.date_range("2025-01-01", "2025-02-28 16:00", freq="8h", tz="UTC")
    rows = pd.DataFrame({"calc_time": stamps.asi8 // 10**6, "funding_interval_hours": 8,
                         "last_funding_rate": 0.0001})
    for month in ("2025-01", "2025-02"):
        name = f"BTCUSDT-fundingRate-{month}.zip"
        part = rows[stamps.strftime("%Y-%m") == month]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(name.replace(".zip", ".csv"), part.to_csv(index=False))
        host.publish(f"data/futures/um/monthly/fundingRate/BTCUSDT/{name}", buffer.getvalue())
    [report] = download("binance_perpetual", ["BTC-USDT"], None, date(2025, 1, 1), date(2025, 2, 28),
                        base_url=host.url, store=store)["pairs"]
    assert (report["file"], report["rows"]) == ("binance_perpetual|BTC-USDT|funding", len(rows))


@pytest.mark.parametrize("args, message", [
    (["--interval", "2m"], "Binance publishes no '2m' klines"),
    (["--interval", "1s"], "1s klines for spot"),
    (["--start", "2025-03-01", "--end", "2025-02-01"], "is after --end"),
    (["--start", "2025-02-30"], "is not a date"),
    (["--connector", "kraken"], "Invalid value for '--connector'"),
    (["--funding", "--pair", "BTC-USD"], "USD-M perpetuals"),
])
def test_bad_requests_are_one_line_errors_before_any_download(host, hbopt, args, message):
    run = hbopt("data", "download", "--connector", "binance_perpetual", "--pair", "BTC-USDT", "--start", "2025-01-01",
                *args, "--base-url", host.url)
    assert run.code in (2, 4) and message in run.err and len(run.err.strip().splitlines()) == 1, run.err
    assert host.requests == []


def test_coin_margined_pairs_and_spot_pairs_are_filed_where_binance_files_them():
    spot = dump_files("binance", "ETH-USDT", "1m", date(2025, 1, 1), date(2025, 1, 31), today=date(2025, 6, 1))
    coin = dump_files("binance_perpetual", "BTC-USD", "1m", date(2025, 1, 1), date(2025, 1, 31), today=date(2025, 6, 1))
    assert [f.path for f in spot] == ["data/spot/monthly/klines/ETHUSDT/1m/ETHUSDT-1m-2025-01.zip"]
    assert [f.path for f in coin] == ["data/futures/cm/monthly/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2025-01.zip"]
    with pytest.raises(ConfigError, match="no public dumps for connector 'kraken'"):
        dump_files("kraken", "BTC-USD", "1m", date(2025, 1, 1), date(2025, 1, 31), today=date(2025, 6, 1))
