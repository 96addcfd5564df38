"""The ``hbopt`` command line: parsing, printing and exit codes only; the work lives below."""
from __future__ import annotations

import codecs
import contextlib
import errno
import os
import sys
import threading
from pathlib import Path

import click
import ujson
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Table

from hbopt import __version__
from hbopt.errors import ConfigError, HboptError, ParityError

class StdoutError(Exception):
    """Writing standard output failed: its reader went away (``EPIPE``) or its disk is full."""

    def __init__(self, cause: OSError):
        super().__init__(cause.strerror or str(cause))
        self.cause = cause


class CheckedStdout:
    """Standard output as hbopt, rich and click write it while a command runs (``main`` installs
    it as ``sys.stdout``): every byte reaches the file descriptor or the write fails, raised as
    :class:`StdoutError` so that ``main`` knows it was standard output that failed. (Python
    forgets what a failed write held, rich exits 1 on a broken pipe, and an unbuffered Python
    (``PYTHONUNBUFFERED``) drops the rest of a partial write to a pipe whose reader left.) A
    closed standard output fails on its first write."""

    def __init__(self, stream):
        self._stream = stream

    def _checked(self, call):
        if self._stream is None:
            raise StdoutError(OSError(errno.EBADF, "it is closed"))
        try:
            return call()
        except OSError as exc:
            raise StdoutError(exc) from exc

    def write(self, text: str) -> int:
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (tests capture it)
            return self._checked(lambda: self._stream.write(text))
        self._checked(self._stream.flush)  # what was written to it before, first
        data = memoryview(text.encode(self._stream.encoding or "utf-8", self._stream.errors or "strict"))

        def write_all():
            nonlocal data
            while data:
                data = data[os.write(fd, data):]
        self._checked(write_all)
        return len(text)

    def flush(self) -> None:
        if self._stream is not None:
            self._checked(self._stream.flush)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class UncutConsole(Console):
    """rich's console, except that writing to no terminal (a cron log, a pipe, a file) it cuts no
    table and wraps no line: it is as wide as what it prints."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(UNCUT_WIDTH, size.height)

    @size.setter
    def size(self, new_size) -> None:
        Console.size.fset(self, new_size)


UNCUT_WIDTH = 100_000
out = UncutConsole()
err = UncutConsole(stderr=True)


def warn(text: str) -> None:
    """One warning on stderr, as written (no markup read in it, no line cut)."""
    err.print("[yellow]warning:[/] ", end="")
    err.print(text, markup=False, highlight=False, soft_wrap=True)


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
ENGINE_HELP = ("The turbo engine (exact to Hummingbot's, faster; it steps aside to the stock one by itself and says "
               "why) or Hummingbot's own loop.")
FEATURE_TIMING_HELP = ("When a feature of a coarser candle reaches the ticks: once the candle has closed, or on its "
                       "open time as Hummingbot's own backtests do (look-ahead; to match a Hummingbot number).")


def emit_json(data) -> None:
    click.echo(ujson.dumps(data, indent=2, ensure_ascii=False, escape_forward_slashes=False))


def when(ts) -> str:
    from hbopt.engine.market_data import utc

    return utc(ts) if ts is not None else "-"


def parse_time(text: str | None, option: str) -> int | None:
    """Epoch seconds from ``1735689600``, ``2025-01-01`` or ``2025-01-01T12:00`` (UTC); before 2009
    or in the future is a configuration error naming ``option``."""
    from hbopt.cache.candles import epoch_seconds

    return None if text is None else epoch_seconds(text, option)


def table(columns: list[str], rows: list[list], title: str | None = None) -> Table:
    t = Table(*columns, title=title, title_justify="left")
    for row in rows:
        t.add_row(*("-" if v is None else str(v) for v in row))
    return t


# --------------------------------------------------------------------------------------- root
def _set_lock_wait(ctx, param, value: float | None) -> None:
    """Click callback of ``--wait``: the lock wait for this command and the workers it starts."""
    if value is not None:
        if not 0 <= value < float("inf"):
            raise click.BadParameter(f"{value} is not a number of seconds >= 0", param_hint="--wait")
        os.environ["HBOPT_WAIT"] = repr(value)


def wait_option(f):
    """``--wait SECONDS``, on the root and on every command that takes a lock."""
    from hbopt.settings import DEFAULT_LOCK_WAIT

    return click.option("--wait", type=float, expose_value=False, callback=_set_lock_wait, metavar="SECONDS",
                        help=f"How long to wait for a lock another process holds (a mirror refresh, a store "
                             f"file being written) before giving up with exit 6 [default: {DEFAULT_LOCK_WAIT:g}, "
                             f"or $HBOPT_WAIT].")(f)


def _cost_options(defaults: bool):
    """A decorator adding the options that choose a run's costs (``costs``, ``maker_fee``,
    ``taker_fee``, ``slippage``, as the API takes them); with ``defaults``, each shows its
    default, else an option not given is None (the study file's, else the default, then)."""
    from hbopt.engine.exchange.costs import DEFAULT_MODEL, DEFAULT_SLIPPAGE_BPS, MODELS

    def default(value) -> dict:
        return {"default": value, "show_default": True} if defaults else {}

    def said(value) -> str:
        return "" if defaults else f" [default: the study file's, else {value}]"

    options = [
        click.option("--costs", type=click.Choice(MODELS), **default(DEFAULT_MODEL),
                     help="Cost model: 'exchange' (limit orders fill at their price when traded through, maker and "
                          "taker fees per connector, slippage, margin and liquidation) or 'hummingbot' (its "
                          "backtester's, exact: fills at the close, --trade-cost on every leg)." + said(DEFAULT_MODEL)),
        click.option("--maker-fee", type=float,
                     help="--costs exchange: maker rate, a fraction [default: the connector's fee table]."),
        click.option("--taker-fee", type=float,
                     help="--costs exchange: taker rate, a fraction [default: the connector's fee table]."),
        click.option("--slippage", type=float, **default(DEFAULT_SLIPPAGE_BPS),
                     help="--costs exchange: a market order's slippage, in basis points." + said(f"{DEFAULT_SLIPPAGE_BPS:g}")),
    ]

    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="hbopt")
@click.option("--debug", is_flag=True, envvar="HBOPT_DEBUG", help="Show tracebacks instead of one-line errors.")
@wait_option
@click.pass_context
def cli(ctx, debug):
    """Offline, multi-core optimizer for Hummingbot V2 controllers.

    Data lives in $HBOPT_HOME (default ~/.hbopt); its mirror in $HBOPT_MIRROR_DIR
    (default /tmp/hbot_data).
    """
    ctx.obj = {"debug": debug}


# --------------------------------------------------------------------------------------- data
@cli.group(context_settings=CONTEXT)
def data():
    """Candle store: synth, import, fetch, list."""


def key_options(f):
    f = click.option("--interval", default="1m", show_default=True, help="Candle interval, e.g. 1m, 1h.")(f)
    f = click.option("--pair", required=True, help="Trading pair as BASE-QUOTE, e.g. BTC-USDT.")(f)
    f = click.option("--connector", required=True, help="Hummingbot connector, e.g. binance_perpetual.")(f)
    return f


def candle_key(connector, pair, interval):
    from hbopt.cache.funding import FUNDING
    from hbopt.cache.store import CandleKey

    if interval == FUNDING:
        raise click.UsageError("funding is not a candle interval: pass --funding for a pair's funding rates")
    return CandleKey(connector, pair, interval)


def funding_flag(f):
    return click.option("--funding", is_flag=True,
                        help="Funding rates of a perpetual pair instead of candles (--interval does not apply).")(f)


def refuse_interval_with_funding(ctx) -> None:
    if ctx.get_parameter_source("interval") != click.core.ParameterSource.DEFAULT:
        raise click.UsageError("--interval does not apply to --funding: a pair has one funding series")


@data.command("synth", context_settings=CONTEXT)
@wait_option
@key_options
@click.option("--days", type=float, default=120, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--vol", type=float, default=0.6, show_default=True,
              help="Annualised volatility (0.6 = 60%, like BTC); larger for a wilder market.")
@click.option("--start-price", type=float, default=60_000.0, show_default=True)
@click.option("--end", help="End of the series (UTC date or epoch s); default 2026-01-01, so a seed always "
                            "gives the same candles.")
@click.option("--regime", type=click.Choice(["mixed", "trending", "ranging", "walk", "revert"]), default="mixed",
              show_default=True, help="walk: a martingale, no trend and no mean reversion (no edge exists); "
                                      "revert: a walk plus a mean-reverting component (an edge for mean reversion).")
@click.option("--gap-rate", type=float, default=0.0, show_default=True, help="Chance a data gap starts at a candle.")
@click.option("--replace", is_flag=True, help="Overwrite the stored file instead of merging into it.")
@click.option("--json", "as_json", is_flag=True)
def data_synth(connector, pair, interval, days, seed, vol, start_price, end, regime, gap_rate, replace, as_json):
    """Generate a synthetic market (deterministic for a seed) into the store, and print what it
    looks like: annualised volatility, price range, largest move, tails, volatility clustering.
    A perpetual connector's pair gets funding rates too, every 8 hours (none on walk and revert).

    Example: hbopt data synth --connector binance_perpetual --pair BTC-USDT --days 120 --seed 7
    """
    from hbopt.cache import funding, synth
    from hbopt.cache.store import CandleKey, CandleStore

    key = candle_key(connector, pair, interval)
    kwargs = {"end": parse_time(end, "--end")} if end else {}
    df = synth.generate(days, interval, seed=seed, start_price=start_price, regime=regime, gap_rate=gap_rate,
                        annual_vol=vol, **kwargs)
    meta = {"source": "synth", "synthetic": True, "seed": seed, "regime": regime, "gap_rate": gap_rate,
            "annual_vol": vol, "start_price": start_price}
    store = CandleStore()
    store.add(key, df, meta, replace=replace)
    stats = synth.statistics(df)
    report = {"file": key.stem, "rows": len(df), "first": int(df["timestamp"].iat[0]),
              "last": int(df["timestamp"].iat[-1]), **meta, "statistics": stats}
    if funding.is_perpetual(connector):
        rates = funding.synthesise(df, seed, regime)
        store.add(CandleKey(connector, pair, funding.FUNDING), rates, meta, replace=replace)
        report["funding"] = {"rows": len(rates), "interval_hours": funding.SYNTH_HOURS,
                             "mean_rate": float(rates["rate"].mean())}
    if as_json:
        return emit_json(report)
    out.print(f"synthetic {key}: {len(df)} candles, {when(report['first'])} -> {when(report['last'])} (seed {seed})")
    if "funding" in report:
        out.print(f"  funding: {report['funding']['rows']} rates every {funding.SYNTH_HOURS} h, mean "
                  f"{report['funding']['mean_rate']:.4%}")
    out.print(f"  realised: volatility {stats['annualised_vol']:.0%} a year, close {stats['first_close']:,.2f} -> "
              f"{stats['last_close']:,.2f}, highest/lowest {stats['high_over_low']:.2f}x, largest move "
              f"{stats['largest_move_pct']:.2f}% ({stats['moves_over_5pct']} over 5%), excess kurtosis "
              f"{stats['excess_kurtosis']:.1f}, volatility clustering {stats['vol_clustering']:.2f}")


@data.command("import", context_settings=CONTEXT)
@wait_option
@click.argument("files", nargs=-1, required=True, metavar="FILE|FOLDER|GLOB...")
@key_options
@funding_flag
@click.option("--repair", is_flag=True, help="Drop invalid rows instead of refusing the file.")
@click.option("--force", is_flag=True, help="With --repair: store the valid rows even when more than half are invalid.")
@click.option("--replace", is_flag=True, help="Overwrite the stored file instead of merging into it.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def data_import(ctx, files, connector, pair, interval, funding, repair, force, replace, as_json):
    """Import candles from CSV (Hummingbot, CryptoDataDownload, Binance dumps, Kraken OHLCVT),
    parquet or a zip holding one (its .CHECKSUM verified); with --funding, a perpetual pair's
    funding rates (Binance's dumps or timestamp,funding_rate). Several files, folders and globs
    are merged in one write.

    Examples: hbopt data import ./BTCUSDT-1m.csv --connector binance --pair BTC-USDT --interval 1m
    hbopt data import ./BTCUSDT/ --connector binance --pair BTC-USDT --interval 1m   # every month's zip
    hbopt data import './BTCUSDT-fundingRate-2025-*.zip' --funding --connector binance_perpetual --pair BTC-USDT
    """
    from hbopt.cache.importers import import_file, import_funding

    if force and not repair:
        raise click.UsageError("--force only goes with --repair")
    if funding:
        refuse_interval_with_funding(ctx)
        if repair:
            raise click.UsageError("--repair does not apply to --funding: a funding file is stored whole or not at all")
        report = import_funding(files, connector, pair, replace=replace)
        if as_json:
            return emit_json(report)
        every = f", every {report['interval_hours']:g} h" if report["interval_hours"] else ""
        return out.print(f"imported {report['rows']} funding rates{_from_files(report)} into {report['file']} "
                         f"({when(report['first'])} -> "
                         f"{when(report['last'])}{every}); now {report['stored_rows']} stored")
    report = import_file(files, candle_key(connector, pair, interval), repair=repair, replace=replace, force=force)
    if as_json:
        return emit_json(report)
    out.print(f"imported {report['rows']} candles{_from_files(report)} into {report['file']} "
              f"({when(report['first'])} -> {when(report['last'])}); now {report['stored_rows']} stored")
    notes = [f"{report['converted_from_ms']} ms/us/ns timestamps converted" if report["converted_from_ms"] else "",
             f"{report['duplicates_dropped']} duplicates dropped" if report["duplicates_dropped"] else "",
             f"{report['invalid_dropped']} invalid rows dropped" if report["invalid_dropped"] else "",
             f"{report['missing_candles']} candles missing in {report['gaps']} gaps" if report["gaps"] else "",
             f"filled with 0: {', '.join(report['filled_columns'])}" if report["filled_columns"] else ""]
    for note in filter(None, notes):
        out.print(f"  {note}")


def _from_files(report: dict) -> str:
    return f" from {len(report['files'])} files" if len(report["files"]) > 1 else ""


@data.command("fetch", context_settings=CONTEXT)
@wait_option
@key_options
@funding_flag
@click.option("--days", type=float, default=90, show_default=True)
@click.option("--base-url", help="With --funding: the REST host to ask instead of the exchange's (a mirror).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def data_fetch(ctx, connector, pair, interval, funding, days, base_url, as_json):
    """Download candles with Hummingbot's candle feeds, only what the store is missing; with
    --funding, a perpetual pair's funding rates from the exchange's public REST API.

    Examples: hbopt data fetch --connector binance_perpetual --pair ETH-USDT --interval 1m --days 90
    hbopt data fetch --funding --connector binance_perpetual --pair ETH-USDT --days 90
    """
    from hbopt.cache.fetch import fetch, fetch_funding

    if funding:
        refuse_interval_with_funding(ctx)
        report = fetch_funding(connector, pair, days, base_url=base_url)
    elif base_url:
        raise click.UsageError("--base-url only goes with --funding: candles come through Hummingbot's feeds")
    else:
        report = fetch(candle_key(connector, pair, interval), days)
    if as_json:
        return emit_json(report)
    out.print(f"{report['file']}: +{report['added']} {'funding rates' if funding else 'candles'}; {report['rows']} "
              f"stored, {when(report['first'])} -> {when(report['last'])}")


@data.command("download", context_settings=CONTEXT)
@wait_option
@click.option("--connector", required=True, type=click.Choice(["binance", "binance_perpetual"]),
              help="binance (spot) or binance_perpetual (USD-M; COIN-M for a pair quoted in USD).")
@click.option("--pair", "pairs", required=True, multiple=True,
              help="Trading pair as BASE-QUOTE; repeat it or separate pairs with commas.")
@click.option("--interval", default="1m", show_default=True, help="Kline interval, e.g. 1m, 1h.")
@funding_flag
@click.option("--start", required=True, help="First day, YYYY-MM-DD (UTC).")
@click.option("--end", help="Last day, YYYY-MM-DD (UTC) [default: yesterday, the last day published].")
@click.option("--base-url", help="Host serving Binance's dump layout [default: https://data.binance.vision].")
@click.option("--jobs", type=click.IntRange(1, 32), default=4, show_default=True, help="Files downloaded at once.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def data_download(ctx, connector, pairs, interval, funding, start, end, base_url, jobs, as_json):
    """Download Binance's public monthly dumps (daily ones for the current month) of klines or,
    with --funding, USD-M funding rates: only the files whose span the store lacks, each verified
    by its .CHECKSUM before it is merged; a killed or failed run resumes where it stopped.

    Examples: hbopt data download --connector binance_perpetual --pair BTC-USDT --interval 1m --start 2025-01-01 --end 2025-03-31
    hbopt data download --connector binance --pair BTC-USDT,ETH-USDT --start 2024-01-01
    hbopt data download --funding --connector binance_perpetual --pair BTC-USDT --start 2024-01-01
    """
    from datetime import datetime, timedelta, timezone

    from hbopt.cache.download import download, parse_day

    if funding:
        refuse_interval_with_funding(ctx)
    pairs = [p.strip() for group in pairs for p in group.split(",") if p.strip()]
    end_day = parse_day(end, "--end") if end else datetime.now(timezone.utc).date() - timedelta(days=1)
    with download_progress(as_json) as on_file:
        report = download(connector, pairs, None if funding else interval, parse_day(start, "--start"), end_day,
                          base_url=base_url, jobs=jobs, on_file=on_file)
    if as_json:
        return emit_json(report)
    for p in report["pairs"]:
        done = (f"{p['downloaded']} downloaded ({p['bytes'] / 2**20:.1f} MiB)"
                + (f", {p['resumed']} resumed" if p["resumed"] else "") + f", {p['skipped']} already stored")
        out.print(f"{p['file']}: {p['files']} files: {done}; +{p['added']} rows; {p['rows']} stored, "
                  f"{when(p['first'])} -> {when(p['last'])}")
        if p["missing"]:
            out.print(f"  not published: {', '.join(p['missing'])}")


@contextlib.contextmanager
def download_progress(quiet: bool):
    """A callback ``(total, bytes)`` advancing a progress bar on a terminal's stderr (None when
    ``quiet`` or stderr is not a terminal)."""
    if quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress("files", MofNCompleteColumn(), BarColumn(), TextColumn("{task.fields[mib]:.1f} MiB"),
                  TimeRemainingColumn(), console=err, transient=True) as progress:
        task = progress.add_task("download", total=None, mib=0.0)
        lock = threading.Lock()

        def on_file(total, brought):
            with lock:
                mib = progress.tasks[0].fields["mib"] + brought / 2**20
                progress.update(task, total=total, advance=1, mib=mib)
        yield on_file


@data.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True)
def data_list(as_json):
    """List the stored candle and funding-rate files (an unreadable one with its error).

    Example: hbopt data list
    """
    from hbopt.cache.store import CandleStore

    store = CandleStore()
    infos = store.infos()
    if as_json:
        return emit_json(infos)
    if not infos:
        return out.print(f"no candles in {store.root}; try 'hbopt data synth' or 'hbopt data import'")
    out.print(table(["connector", "pair", "interval", "rows", "first", "last", "source"],
                    [[i["connector"], i["pair"], i["interval"], None, None, None, "error"] if "error" in i else
                     [i["connector"], i["pair"], i["interval"], i["rows"], when(i["first"]), when(i["last"]),
                      i["source"] + (" (synthetic)" if i["synthetic"] and i["source"] != "synth" else "")]
                     for i in infos], title=str(store.root)))
    for i in infos:
        if "error" in i:
            out.print(f"  {i['error']}", markup=False, highlight=False, soft_wrap=True)


# ------------------------------------------------------------------------------------- mirror
@cli.group(context_settings=CONTEXT)
def mirror():
    """Memory-mappable copy of the store in $HBOPT_MIRROR_DIR: refresh, verify, status, clear."""


@mirror.command("refresh", context_settings=CONTEXT)
@wait_option
@click.option("--json", "as_json", is_flag=True)
def mirror_refresh(as_json):
    """Copy changed or corrupt store files into the mirror (and drop ones gone from the store).

    A store file that cannot be read is reported (its mirror copy removed) after every other
    file is mirrored, and the command exits 3.

    Example: hbopt mirror refresh
    """
    from hbopt.cache.mirror import Mirror
    from hbopt.errors import DataError

    m = Mirror.default()
    report = m.refresh()
    if as_json:
        emit_json({"mirror": str(m.root), **report})
    else:
        out.print(f"mirror {m.root}: {len(report['copied'])} copied, {len(report['unchanged'])} unchanged, "
                  f"{len(report['removed'])} removed, {len(report['failed'])} failed")
        for stem in report["copied"]:
            out.print(f"  copied  {stem}")
        for stem in report["removed"]:
            out.print(f"  removed {stem}")
        for stem, error in report["failed"].items():
            out.print(f"  failed  {stem}: {error}", markup=False, highlight=False, soft_wrap=True)
    if report["failed"]:
        raise DataError(f"{len(report['failed'])} store file(s) could not be mirrored: {', '.join(report['failed'])}")


@mirror.command("verify", context_settings=CONTEXT)
@wait_option
@click.option("--json", "as_json", is_flag=True)
def mirror_verify(as_json):
    """Check every mirrored file in full (refresh trusts a file whose size and times are unchanged):
    its store file's SHA-256, and each value against the store's; copy again what differs. Exits 3
    when anything was damaged, so a cron job reports it.

    Example: hbopt mirror verify
    """
    import time

    from hbopt.cache.mirror import Mirror
    from hbopt.errors import DataError

    m = Mirror.default()
    began = time.perf_counter()
    report = m.verify()
    seconds = time.perf_counter() - began
    if as_json:
        emit_json({"mirror": str(m.root), **report, "seconds": round(seconds, 3)})
    else:
        out.print(f"mirror {m.root}: {len(report['verified'])} verified, {len(report['repaired'])} repaired, "
                  f"{len(report['failed'])} failed ({report['bytes'] / 2**20:,.0f} MiB read in {seconds:.1f} s)")
        for stem, why in {**report["repaired"], **report["failed"]}.items():
            verb = "repaired" if stem in report["repaired"] else "failed  "
            out.print(f"  {verb} {stem}: {why}", markup=False, highlight=False, soft_wrap=True)
    damaged = {**report["repaired"], **report["failed"]}
    if damaged:
        raise DataError(f"{len(damaged)} mirror file(s) were damaged: {', '.join(damaged)}"
                        + (" (copied again)" if not report["failed"] else ""))


@mirror.command("status", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True)
def mirror_status(as_json):
    """Show each file's state: fresh, stale, missing, corrupt (the mirror copy is damaged),
    unreadable (the store file is) or orphan (gone from the store).

    Example: hbopt mirror status
    """
    from hbopt.cache.mirror import Mirror

    m = Mirror.default()
    rows = m.status()
    if as_json:
        return emit_json({"mirror": str(m.root), "files": rows})
    out.print(table(["file", "state", "rows", "first", "last"],
                    [[r["file"], r["state"], r.get("rows"), when(r.get("first")), when(r.get("last"))] for r in rows],
                    title=str(m.root)))
    for r in rows:
        if "error" in r:
            out.print(f"  {r['error']}", markup=False, highlight=False, soft_wrap=True)


@mirror.command("clear", context_settings=CONTEXT)
@wait_option
@click.option("--json", "as_json", is_flag=True)
def mirror_clear(as_json):
    """Remove every mirrored file (the store is untouched).

    Example: hbopt mirror clear
    """
    from hbopt.cache.mirror import Mirror

    removed = Mirror.default().clear()
    if as_json:
        return emit_json({"removed": removed})
    out.print(f"removed {len(removed)} mirrored file(s)")


# ---------------------------------------------------------------------------------- backtest
def parse_set(values: tuple[str, ...]) -> dict | None:
    """``--set key=value`` pairs (None without any); values are read as YAML (numbers, booleans,
    strings, lists)."""
    from hbopt.safe_yaml import load

    fields = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--set")
        fields[name.strip()] = load(raw, f"--set {name.strip()}") if raw.strip() else None
    return fields or None


def set_option(help_text: str):
    """``--set KEY=VALUE``, repeatable, handed to the command as ``sets`` (a mapping, or None)."""
    return click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help=help_text,
                        callback=lambda ctx, param, values: parse_set(values))


def engine_option(default):
    """``--turbo/--stock``, handed to the command as ``engine``."""
    return click.option("--turbo/--stock", "engine", default=default, show_default="turbo" if default else None,
                        callback=lambda ctx, param, turbo: None if turbo is None else "turbo" if turbo else "stock",
                        help=ENGINE_HELP + ("" if default else " [default: the study file's, else turbo]"))


@cli.command(context_settings=CONTEXT)
@click.argument("config", required=False, type=click.Path(path_type=Path))
@wait_option
@click.option("--controller", help="Built-in or user controller by name, e.g. bollinger.")
@click.option("--connector", help="Connector (overrides the config's connector_name).")
@click.option("--pair", help="Trading pair (overrides the config's trading_pair).")
@set_option("Set a config field; repeatable.")
@click.option("--days", type=float, help="The last N days of stored data [default: 30 without --start/--end].")
@click.option("--start", help="Window start (UTC date or epoch s).")
@click.option("--end", help="Window end (UTC date or epoch s).")
@click.option("--resolution", default="1m", show_default=True, help="Backtest tick interval.")
@click.option("--trade-cost", type=float, default=0.0006, show_default=True,
              help="--costs hummingbot: fee per trade, as a fraction.")
@_cost_options(defaults=True)
@engine_option(True)
@click.option("--feature-timing", type=click.Choice(["close", "open"]), default="close", show_default=True,
              help=FEATURE_TIMING_HELP)
@click.option("--controllers-path", type=click.Path(path_type=Path), help="Your own controllers folder.")
@click.option("--ledger", "ledger_file", type=click.Path(path_type=Path),
              help="Also write every fill of the account and every executor to this JSON file.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def backtest(ledger_file, as_json, **options):
    """Backtest one controller config offline on mirrored candles.

    \b
    Examples:
      hbopt backtest my_controller.yml --days 30 --json
      hbopt backtest --controller bollinger --connector binance_perpetual --pair BTC-USDT \\
          --set bb_length=100 --set stop_loss=0.02 --days 30
      hbopt backtest --controller ma_cross --pair BTC-USDT --resolution 1h --days 365 --trade-cost 0.0004
      hbopt backtest --controller pmm --pair BTC-USDT --days 90
      hbopt backtest --controller pmm --pair BTC-USDT --days 90 --stock      # Hummingbot's loop
      hbopt backtest my_controller.yml --days 30 --feature-timing open   # Hummingbot's own merge
      hbopt backtest --controller market_maker --pair BTC-USDT --days 30 --costs exchange --slippage 3
    """
    from hbopt import api
    from hbopt.files import is_stream, write_output

    if ledger_file:
        is_stream(ledger_file)  # a refused --ledger is said before the backtest runs
    result = api.backtest(**options, ledger=bool(ledger_file))
    if ledger_file:
        write_output(ledger_file, ujson.dumps(result.pop("ledger"), indent=1))
    if as_json:
        return emit_json(result)
    print_backtest(result)


def costs_said(r: dict) -> str:
    """The costs a result ran under, in a few words."""
    charged = r["costs"].get("charged")
    if not charged:
        return f"Hummingbot's costs (trade cost {r['trade_cost']:g})"
    return (f"exchange costs (maker {charged['maker']:.4%}, taker {charged['taker']:.4%}, slippage "
            f"{charged['slippage'] * 1e4:g} bps{', margin, funding' if charged['perpetual'] else ''})")


def print_backtest(r: dict) -> None:
    cfg = r["config"]
    out.print(f"[bold]{cfg['controller_name']}[/] {cfg.get('connector_name', '')} {cfg.get('trading_pair', '')}  "
              f"{when(r['start'])} -> {when(r['end'])}  resolution {r['resolution']}, {costs_said(r)}, "
              f"engine {r['engine']}, feature timing {r['feature_timing']}")
    a = r["account"]
    funding = [("funding (quote, + paid)", a["funding_quote"])] if r["costs"].get("charged", {}).get("perpetual") else []
    account = [("PnL (quote)", a["pnl_quote"]), ("return", a["return_pct"]), ("fees (quote)", a["fees_quote"]),
               *funding, ("volume (quote)", a["volume_quote"]), ("fills", a["fills"]),
               ("max drawdown", a["max_drawdown_pct"]), ("Sharpe (annual)", a["sharpe"])] + ([("ruined on", when(a["ruined_at"]))] if a["ruined_at"] else [])
    hummingbot = [("net PnL (quote)", r["net_pnl_quote"]), ("executors", r["total_executors"]),
                  ("with position", r["total_executors_with_position"]), ("accuracy", r["accuracy"]),
                  ("sharpe_ratio", r["sharpe_ratio"]), ("profit factor", r["profit_factor"]),
                  ("max drawdown", r["max_drawdown_pct"]), ("fees (quote)", r["total_fees_quote"]),
                  ("close types", r["close_types"] or {})]
    for title, metrics in ((f"Account ({a['capital_quote']:g} quote of capital)", account),
                           ("Hummingbot's summary (its own definitions)", hummingbot)):
        out.print(table(["metric", "value"], [[k, f"{v:.6g}" if isinstance(v, float) else v] for k, v in metrics],
                        title=title))
    t = r["timings"]
    out.print(f"{t['ticks']} ticks in {t['run_s']:.2f}s ({t['total_s']:.2f}s in all)")
    if r.get("turbo_fallback"):
        err.print(f"[yellow]note:[/] ran the stock engine: {r['turbo_fallback']}")
    for warning in r["warnings"]:
        warn(warning)


# ------------------------------------------------------------------------------------- bench
def bench_costs_option(f):
    from hbopt.engine.exchange.costs import DEFAULT_MODEL, MODELS

    return click.option("--costs", "cost_model", type=click.Choice(MODELS), default=DEFAULT_MODEL, show_default=True,
                        help="The cost model the engines are compared under (turbo runs under the other one "
                             "beside them).")(f)


@cli.command(context_settings=CONTEXT)
@click.option("--days", type=float, help="Window of 1m candles per backtest [default: 90; --verdict: 40 of candles, "
                                         "36 searched].")
@click.option("--controllers", "names", default="bollinger,ma_cross,pmm,grid,market_maker",
              show_default=True, help="Comma-separated built-ins to benchmark.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the synthetic market(s).")
@click.option("--pool", "pool_mode", is_flag=True, help="Benchmark the discover pool instead of the engines.")
@click.option("--workers", "worker_counts", default="1,2", show_default=True, help="--pool: worker counts to compare.")
@click.option("--search", "search_mode", is_flag=True,
              help="Compare the best batched TPE finds with plain sequential TPE's (a function and a backtest study).")
@click.option("--verdict", "verdict_mode", is_flag=True,
              help="Validate TPE studies on a random walk and a mean-reverting market at 5 seeds, at 60 trials and "
                   "again at 160: how steady the verdict is.")
@click.option("--store", "store_mode", is_flag=True,
              help="Benchmark a large store: no-op refresh, one pair's backtest against a one-pair store, "
                   "discover --pairs ALL's overhead per pair.")
@click.option("--pairs", type=click.IntRange(2, 1000), default=100, show_default=True, help="--store: pairs stored.")
@click.option("--trials", type=click.IntRange(min=1),
              help="--pool: trials per run [default: 1000]; --search: trials per backtest study [default: 150].")
@click.option("--samplers", default="random,tpe", show_default=True,
              help="--pool: samplers whose driver and workers are measured (the first also for the scaling table).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="--pool: where the trials run (ray: a local Ray instance).")
@bench_costs_option
@click.option("--json", "as_json", is_flag=True)
def bench(days, names, seed, pool_mode, worker_counts, search_mode, verdict_mode, store_mode, pairs, trials, samplers,
          backend, cost_model, as_json):
    """Stock vs turbo engine on the same configs and data, one core; or, with --pool, what a
    discover run costs: per sampler the driver's CPU per trial and its ceiling (trials/s when
    backtests cost nothing), the workers' busy share and RSS over the run; and throughput for
    each worker count; or, with --search, the best batched TPE finds against plain TPE's; or,
    with --verdict, how steady the verdict is; or, with --store, whether a store of --pairs
    pairs x --days (365) of 1m candles stays as fast as a one-pair store.

    Engines: per controller, ms per backtest for each engine, the speedup, the peak memory rise
    and whether the two engines agree (same executors, the same account and fills to 1e-9, the
    same summary), under the --costs model; and turbo's ms under each model, with the ratio of
    the exchange's to Hummingbot's.

    \b
    Examples:
      hbopt bench --days 90
      hbopt bench --pool --workers 1,2 --trials 1000 --days 90
      hbopt bench --pool --workers 2 --samplers tpe,nsga2 --trials 300 --days 360
      hbopt bench --pool --backend ray --workers 2 --samplers tpe --trials 1000 --days 30
      hbopt bench --search --trials 150 --days 90
      hbopt bench --verdict --seed 5
      hbopt bench --store --pairs 100 --days 365
    """
    from hbopt.engine.bench import CONFIGS, run_bench

    if trials is not None and trials < 10 and not store_mode:
        raise click.BadParameter(f"{trials} is less than 10", param_hint="--trials")
    if verdict_mode:
        return bench_verdict(days or 40, seed, as_json)
    if store_mode:
        return bench_store(pairs, days or 365, trials or 2, seed, as_json)
    days = days or 90
    if pool_mode:
        return bench_pool(days, names.split(",")[0], seed, worker_counts, trials or 1000, samplers, backend, as_json)
    if search_mode:
        return bench_search(days, names.split(",")[0], trials or 150, as_json)

    controllers = [n.strip() for n in names.split(",") if n.strip()]
    unknown = sorted(set(controllers) - set(CONFIGS))
    if unknown:
        raise ConfigError(f"no bench config for {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    with err.status("benchmarking") as status:
        rows = run_bench(days, controllers, seed, cost_model, progress=lambda message: status.update(message))
    if as_json:
        emit_json(rows)
    else:
        out.print(table(["controller", "ticks", "executors", "stock ms", "turbo ms", "speedup", "stock peak MB",
                         "turbo peak MB", "parity", "turbo ms, hummingbot costs", "turbo ms, exchange costs",
                         "exchange / hummingbot"],
                        [[r["controller"], r["ticks"], r["executors"], r["stock_ms"], r["turbo_ms"], f"{r['speedup']}x",
                          r["stock_peak_mb"], r["turbo_peak_mb"],
                          "yes" if r["parity"] else "NO: " + "; ".join(r["differences"]), r["turbo_hummingbot_ms"],
                          r["turbo_exchange_ms"], f"{r['exchange_ratio']}x"] for r in rows],
                        title=f"{days:g} days of 1m candles, synthetic market seed {seed}; stock and turbo under "
                              f"{cost_model} costs, turbo under both"))
    disagreeing = [r["controller"] for r in rows if not r["parity"]]
    if disagreeing:
        raise ParityError(f"turbo and stock results differ for {', '.join(disagreeing)}")


# ---------------------------------------------------------------------------------- discover
def positive(ctx, param, value: float | None) -> float | None:
    """Click callback: the value if it is not given or a finite number > 0 (click's ranges let nan through)."""
    if value is not None and not 0 < value < float("inf"):
        raise click.BadParameter(f"{value} is not a finite number > 0")
    return value


def spec_options(f):
    """The options that say what a study optimises and on what (discover and walkforward), named
    as :func:`hbopt.search.spec.study_spec` takes them."""
    options = [
        click.argument("study_file", required=False, type=click.Path(path_type=Path)),
        click.option("--controller", help="Controller to optimise (default: the study file's, else hbopt.yml's, "
                                          "else bollinger)."),
        click.option("--connector", help="Connector (default: the study file's or the controller's)."),
        click.option("--pairs", help="Comma-separated pairs, or ALL for every pair stored for the connector."),
        click.option("--across-pairs", type=click.Choice(["mean", "min"]), help="One parameter set scored over all pairs."),
        click.option("--seed", type=int, help="Sampler seed (random search: the same trials whatever --workers is)."),
        click.option("--sampler", type=click.Choice(["tpe", "random", "grid", "nsga2"]),
                     help="[default: tpe; nsga2 for several objectives]"),
        click.option("--objective", "objectives", multiple=True, metavar="METRIC[:minimize]",
                     help="Repeat for a Pareto front."),
        click.option("--days", type=float, help="The last N days of stored data per pair [default: 90]."),
        click.option("--start", help="Window start (UTC date or epoch s)."),
        click.option("--end", help="Window end (UTC date or epoch s)."),
        click.option("--resolution", help="Backtest tick interval [default: 1m]."),
        click.option("--trade-cost", type=float, help="Fee per trade, as a fraction [default: 0.0006]."),
        engine_option(None),
        click.option("--feature-timing", type=click.Choice(["close", "open"]),
                     help=FEATURE_TIMING_HELP + " [default: the study file's, else close]"),
        click.option("--controllers-path", type=click.Path(path_type=Path), help="Your own controllers folder."),
        set_option("Fix a config field for every trial (over the study file's fixed); repeatable."),
    ]
    f = _cost_options(defaults=False)(f)
    for option in reversed(options):
        f = option(f)
    return f


def pool_options(f):
    """How the pool of backtest workers runs (discover, walkforward, validate), named as the API
    takes them."""
    for option in reversed([
        click.option("--workers", type=click.IntRange(min=1),
                     help="Worker processes [default: usable cores, fewer if memory is short; Ray: every CPU "
                          "of the cluster]."),
        click.option("--trial-timeout", type=float, callback=positive,
                     help="Fail a trial running longer than this many seconds."),
        click.option("--max-worker-mb", type=float, callback=positive, default=1024,
                     show_default=True, help="Recycle a worker above this RSS."),
        click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="Where trials run: this machine's cores, or a Ray cluster's (pip install hbopt[ray])."),
        click.option("--address", help="Ray cluster to join: auto, or HOST:PORT [default: a local Ray instance]."),
        wait_option,
    ]):
        f = option(f)
    return f


def threshold_options(f):
    """What a validation's pass needs (discover and validate), named as
    :class:`~hbopt.validation.thresholds.Thresholds`' fields."""
    from hbopt.validation.thresholds import Thresholds

    d = Thresholds()
    for option in reversed([
        click.option("--min-dsr", type=click.FloatRange(0, 1), default=d.min_dsr, show_default=True,
                     help="Pass needs the deflated Sharpe ratio (a probability) at least this."),
        click.option("--max-pbo", type=click.FloatRange(0, 1), default=d.max_pbo, show_default=True,
                     help="Pass needs the probability of backtest overfitting below this."),
        click.option("--neighbourhood", type=click.FloatRange(0, 1), default=d.neighbourhood, show_default=True,
                     help="Pass needs the median neighbour to keep this share of the best's score."),
        click.option("--min-oos-pnl", type=float, default=d.min_oos_pnl, show_default=True,
                     help="A holdout (walk-forward) PnL counts as a profit above this (quote)."),
        click.option("--min-profitable", type=click.FloatRange(0, 1), default=d.min_profitable, show_default=True,
                     help="Pass needs at least this share of the top trials to profit on the holdout."),
        click.option("--min-rate-ratio", type=float, default=d.min_rate_ratio, show_default=True,
                     help="Pass needs the top trials' median holdout PnL per day at least this multiple of "
                          "their in-sample one."),
        click.option("--max-p-value", type=click.FloatRange(0, 1), default=d.max_p_value, show_default=True,
                     help="Pass needs the t-test that the top trials' mean holdout PnL per period is above 0 "
                          "at this p-value or less."),
        click.option("--cost-multiple", type=click.FloatRange(1, 100), default=d.cost_multiple, show_default=True,
                     help="The cost stress runs the best at this multiple of the trade cost."),
        click.option("--pbo-blocks", type=click.IntRange(2, 24), default=d.pbo_blocks, show_default=True,
                     help="Blocks the PnL series are cut into for PBO (even)."),
    ]):
        f = option(f)
    return f


def say(enabled: bool):
    """What a command says on stderr while it runs (nothing when not ``enabled``)."""
    return lambda message: enabled and err.print(message, highlight=False, soft_wrap=True)


@cli.command(context_settings=CONTEXT)
@spec_options
@click.option("--holdout", type=float, help="Share of the window kept out of the search and used to judge its best; "
                                            "0 for none [default: the study file's, else 0.25].")
@click.option("--iter", "n_trials", type=click.IntRange(min=1), default=100, show_default=True, help="Trials to add per study.")
@click.option("--study", help="Study name; the same name again resumes it.")
@click.option("--storage", help="Optuna storage URL [default: a journal file in the study folder].")
@click.option("--warm-start", metavar="STUDY",
              help="Run the best trials of this study first (a model sampler's; with several pairs, STUDY_PAIR's "
                   "for each pair's study): yesterday's winners, tried on today's window.")
@click.option("--warm-trials", type=click.IntRange(min=1),
              help="How many of the --warm-start study's best trials [default: 10].")
@pool_options
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="Rows of the final table, and trials run on the holdout.")
@click.option("--no-validate", "validate", flag_value=False, default=True,
              help="Skip the validation (statistics, neighbourhood, cost stress, verdict); the top trials still run "
                   "on the holdout.")
@threshold_options
@click.option("--no-report", "report", flag_value=False, default=True, help="Skip the HTML report.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary only (for cron).")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def discover(as_json, quiet, **options):
    """Search controller parameters with optuna (or random/grid search) on a pool of workers,
    keeping a holdout out of the search, then say whether the best holds.

    \b
    Examples:
      hbopt discover --days 90 --iter 1000 --turbo
      hbopt discover study.yml --pairs BTC-USDT,ETH-USDT --iter 500 --workers 2 --seed 1
      hbopt discover --controller bollinger --connector binance_perpetual --pairs ALL --sampler random --iter 2000 --json
      hbopt discover study.yml --study nightly --iter 200      # same name again = resume, adds 200
      hbopt discover study.yml --study bb-2026-12-03 --warm-start bb-2026-12-02   # today's window, yesterday's best first
      hbopt discover --turbo --holdout 0 --no-validate         # search the whole window, judge nothing
    """
    from hbopt import api

    talk = not (as_json or quiet)
    with LiveView(enabled=talk and err.is_terminal) as view:
        summaries = api.discover(**options, on_windows=lambda name, w: talk and print_windows(name, w),
                                 on_progress=view.update, on_stage=say(not quiet))
    if quiet:
        return
    for warning in (w for s in summaries for w in s["warnings"]):
        warn(warning)
    if as_json:
        return emit_json(summaries)
    for s in summaries:
        print_study_summary(s, options["top"])


def print_windows(name: str, windows: dict) -> None:
    """Where a study searches and where it is judged, on stderr before it starts."""
    from hbopt.engine.market_data import utc

    for pair, w in windows.items():
        holdout = (f"holdout {utc(w['holdout'][0])} -> {utc(w['holdout'][1])} (after a {w['gap'] / 3600:g} h gap)"
                   if w.get("holdout") else "no holdout")
        err.print(f"{name} {pair}: in-sample {utc(w['in_sample'][0])} -> {utc(w['in_sample'][1])}, {holdout}; "
                  f"warm-up {w['warmup'] / 3600:.3g} h before each", highlight=False, soft_wrap=True)


class LiveView:
    """The rich live display of a discover run: progress, speed, ETA, best, CPU and worker memory,
    and the trials that fell back from the turbo engine to the stock one (with the most frequent reason)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._live = None
        self._last = 0.0

    def __enter__(self):
        if self.enabled:
            from rich.live import Live

            self._live = Live(console=err, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live:
            self._live.__exit__(*exc)

    def update(self, name, progress, pool) -> None:
        import time

        from rich.console import Group
        from rich.text import Text

        if not self._live or time.monotonic() - self._last < 0.25:
            return
        self._last = time.monotonic()
        elapsed = time.monotonic() - progress.started
        rate = progress.done / elapsed if elapsed else 0
        eta = (progress.target - progress.done) / rate if rate else None
        stats = pool.worker_stats()
        t = Table.grid(padding=(0, 2))
        t.add_row(f"[bold]{name}[/]", f"{progress.done}/{progress.target} trials",
                  f"{progress.failed} failed", f"{progress.backtests / elapsed if elapsed else 0:.2f} backtests/s",
                  f"ETA {eta:.0f}s" if eta is not None else "ETA -")
        t.add_row("best", f"{progress.best:.6g}" if progress.best is not None else "-",
                  ", ".join(f"{k}={v}" for k, v in (progress.best_params or {}).items()), "", "")
        t.add_row("workers", f"{len(stats)}", "RSS " + " ".join(f"{s['rss_mb']:.0f}MB" for s in stats),
                  f"replaced {pool.replaced}", "")
        fallbacks = progress.fallbacks.as_dict()
        if fallbacks["trials"]:
            most_common = next(iter(fallbacks["reasons"]))
            line = Text(f"turbo fallbacks: {fallback_share(fallbacks)} — {most_common}", style="yellow",
                        no_wrap=True, overflow="ellipsis")
            self._live.update(Group(t, line))
        else:
            self._live.update(t)


def fallback_share(fallbacks: dict) -> str:
    """``12 of 340 trials (3.5%)``, from :meth:`TurboFallbacks.as_dict`."""
    return f"{fallbacks['trials']} of {fallbacks['turbo_trials']} trials ({fallbacks['share']:.1%})"


def print_study_summary(s: dict, top: int) -> None:
    run = s.get("run") or {}
    out.print(f"[bold]{s['study']}[/]: {s['trials']} trials ({s.get('complete', 0)} complete, {s.get('fail', 0)} failed)"
              + (f"; this run {run['trials']} trials in {run['seconds']}s, {run['backtests_per_s']} backtests/s" if run else ""))
    fallbacks = s.get("turbo_fallbacks") or {}
    if fallbacks.get("trials"):
        reasons = "; ".join(f"{reason} ({n})" for reason, n in fallbacks["reasons"].items())
        err.print(f"[yellow]note:[/] {fallback_share(fallbacks)} ran the stock engine instead of turbo: "
                  f"{escape(reasons)}", highlight=False, soft_wrap=True)
    print_best(s["best"][:top], validation=s.get("validation"))
    if (s.get("validation") or {}).get("verdict"):
        print_verdict(s["validation"])
    if s.get("report"):
        out.print(f"report: {s['report']}")


def print_best(rows: list[dict], title: str | None = None, validation: dict | None = None) -> None:
    """Trials as ``trial_row`` gives them: objective values, params, the account's PnL, drawdown and
    fills per pair, Hummingbot's own net PnL beside them, and how many warnings their backtests gave
    (``hbopt study export`` lists them); with a ``validation``, each trial's holdout score and
    account PnL per pair."""
    holdout = {r["number"]: r for r in (validation or {}).get("holdout", [])}
    columns = ["#", "objective", *(["holdout", "holdout PnL"] if holdout else []), "params", "PnL", "max DD",
               "fills", "Hummingbot net PnL", "warnings"]

    def per_pair(b, key):
        return ", ".join(_number((a or {}).get(key)) for a in b["account"])
    out.print(table(columns, [
        [b["number"], ", ".join(f"{v:.5g}" for v in b["values"]),
         *([_number(holdout.get(b["number"], {}).get("holdout")),
            ", ".join(_number(p["account"]["pnl_quote"]) for p in holdout.get(b["number"], {}).get("pairs", {}).values())]
           if holdout else []),
         ", ".join(f"{k}={v}" for k, v in b["params"].items()),
         per_pair(b, "pnl_quote"), per_pair(b, "max_drawdown_pct"), per_pair(b, "fills"),
         ", ".join(_number(h["net_pnl_quote"]) for h in b["hummingbot"]), len(b["warnings"]) or None]
        for b in rows], title=title))


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else "-" if value is None else str(value)


def print_verdict(v: dict) -> None:
    """The verdict and each check behind it."""
    colour = "green" if v["verdict"] == "pass" else "red"
    out.print(f"verdict: [bold {colour}]{v['verdict']}[/] (best: trial {v.get('best', '-')})")
    out.print(table(["check", "figure", "in sample", "threshold", "result", "note"],
                    [[r["check"], _number(r["figure"]), _number(r.get("in_sample")), r["threshold"] or "",
                      ("pass" if r["passed"] else "fail") + ("" if r["required"] else " (not required)"),
                      r.get("note", "")] for r in v["reasons"]]))
    if v.get("costs") and v["costs"] != v.get("searched_costs"):
        out.print(f"validated under {v['costs']['model']} costs; the study was searched under "
                  f"{v['searched_costs']['model']} costs")
    exchange = v.get("exchange_holdout")
    if exchange:
        out.print("searched under Hummingbot's fill model; the best's holdout PnL under the exchange's costs: "
                  + (_number(exchange["pnl_quote"]) if not exchange["error"] else f"- ({exchange['error']})"))


def bench_pool(days, controller, seed, worker_counts, trials, samplers, backend, as_json):
    from hbopt.search.pool_bench import run_pool_bench
    from hbopt.search.spec import SAMPLERS

    try:
        counts = [int(n) for n in worker_counts.split(",")]
    except ValueError:
        raise click.BadParameter("a comma-separated list of numbers", param_hint="--workers") from None
    names = [n.strip() for n in samplers.split(",") if n.strip()]
    if not names or set(names) - set(SAMPLERS) or "grid" in names:
        raise click.BadParameter(f"a comma-separated list of {', '.join(s for s in SAMPLERS if s != 'grid')}",
                                 param_hint="--samplers")
    with err.status("benchmarking the pool") as status:
        bench = run_pool_bench(counts, trials, days, controller, names, seed, backend,
                               progress=lambda m: status.update(m))
    if as_json:
        return emit_json(bench)
    most = max(counts)
    title = f"{controller}, {trials} trials of {days:g} days (turbo), {backend} workers, steady state"
    out.print(table(["sampler", "driver ms/trial, alone", "ceiling trials/s", f"trials/s, {most} workers",
                     "driver ms/trial", "CPU outside backtests, ms/trial", "workers busy %",
                     "projected busy %, 16/48/96 workers", "RSS growth %", "replaced"],
                    [[r["sampler"], r["ceiling_driver_ms"], r["ceiling_trials_per_s"], r["trials_per_s"],
                      r["driver_ms"], r["outside_backtests_ms"], r["busy_pct"],
                      "/".join(f"{v:g}" for v in r["projected_busy_pct"].values()), r["rss_growth_pct"], r["replaced"]]
                     for r in bench["samplers"]],
                    title=title))
    rss = [r["rss_over_time"] for r in bench["samplers"]]
    out.print(table(["trial", *(r["sampler"] for r in bench["samplers"])],
                    [[marks[0]["trial"], *("/".join(map(str, m["rss_mb"])) for m in marks)] for marks in zip(*rss)],
                    title="worker RSS (MB) by trial"))
    out.print(table(["workers", "trials/s", "scaling", "workers busy %", "driver ms/trial"],
                    [[r["workers"], r["trials_per_s"], f"{r['scaling']}x", r["busy_pct"], r["driver_ms"]]
                     for r in bench["scaling"]], title=f"scaling, {names[0]} search"))


def bench_search(days, controller, trials, as_json):
    from hbopt.engine.local_pool import usable_cores
    from hbopt.search.sampler_bench import run_search_bench

    with err.status("comparing samplers") as status:
        rows = run_search_bench(backtest_trials=trials, controller=controller, days=days, workers=usable_cores(),
                                progress=lambda m: status.update(m))
    if as_json:
        return emit_json(rows)
    out.print(table(["problem", "sampler", "trials", "seeds", "best (mean ± s.e.)", "driver ms/trial"],
                    [[r["problem"], r["sampler"], r["trials"], r["seeds"], f"{r['best_mean']:.4g} ± {r['best_se']:.2g}",
                      r["driver_ms"]] for r in rows], title="best found after N trials, sequential"))


def bench_store(pairs, days, trials, seed, as_json):
    from hbopt.cache.store_bench import run_store_bench

    with err.status("benchmarking the store") as status:
        r = run_store_bench(pairs, days, trials=trials, seed=seed, progress=lambda m: status.update(m))
    if as_json:
        return emit_json(r)
    d, one, many = r["discover"], r["stores"]["one"], r["stores"]["many"]
    out.print(table(["figure", "measured"], [
        ["store (1 pair / all)", f"{one['store_mb']:,.0f} MB / {many['store_mb']:,.0f} MB"],
        ["mirror (1 pair / all)", f"{one['mirror_mb']:,.0f} MB / {many['mirror_mb']:,.0f} MB"],
        ["first refresh, all pairs", f"{many['first_refresh_s']} s"],
        ["no-op refresh, all pairs", f"{r['noop_refresh_s'] * 1000:.0f} ms"],
        [f"{r['backtest_days']:g}-day backtest, 1-pair store", f"{r['backtest_one_s']} s"],
        [f"{r['backtest_days']:g}-day backtest, {pairs}-pair store", f"{r['backtest_many_s']} s "
                                                                   f"({r['backtest_ratio']}x)"],
        [f"discover --pairs ALL, {d['trials']} trials on {d['workers']} workers",
         f"{d['wall_s']} s, of which trials {d['trial_s']} s / {d['workers']} workers"],
        ["discover overhead per pair", f"{d['overhead_per_pair_s']} s"],
        ["worker peak own memory (--max-worker-mb)", f"{d['worker_peak_rss_mb']} MB ({d['max_worker_mb']:g}); "
                                              f"{d['workers_replaced']} replaced"],
    ], title=f"{pairs} pairs x {days:g} days of 1m candles ({r['rows_per_pair']:,} rows a pair)"))


def bench_verdict(days, seed, as_json):
    from hbopt.validation.verdict_bench import run_verdict_bench

    with err.status("validating studies") as status:
        rows = run_verdict_bench(days, seed, progress=lambda m: status.update(m))
    if as_json:
        return emit_json(rows)
    out.print(table(["market", "seed", "trials", "verdict", "best (in sample)", "top 10 profitable on the holdout",
                     "median PnL/day, holdout / in sample", "t-test p", "DSR", "PBO", "failed"],
                    [[r["market"], r["seed"], r["trials"], r["verdict"], f"#{r['best']}: {r['best_in_sample']:.2f}",
                      f"{r['profitable']}/{r['top']}", f"{r['median_rate']:.3g} / {r['median_rate_in_sample']:.3g}",
                      _number(r["p_value"]), _number(r["dsr"]), _number(r["pbo"]), "; ".join(r["failed"])]
                     for r in rows], title=f"bollinger TPE studies, {days:g} days of 1m candles (market seed {seed})"))


# ----------------------------------------------------------------------------------- validate
@cli.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Trials run on the holdout.")
@pool_options
@threshold_options
@_cost_options(defaults=False)
@set_option("Fix a config field over the study's for the runs the validation makes (a field it does not search); "
            "repeatable.")
@click.option("--controllers-path", type=click.Path(path_type=Path), help="Your own controllers folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the validation as JSON (verdict, reasons, figures).")
def validate(name, as_json, **options):
    """Say whether a study's best will hold: its holdout (and walk-forward, if one ran on the
    same study), the deflated Sharpe ratio, PBO, its neighbourhood and a cost stress. Exits 0
    whether the verdict is pass or fail.

    \b
    Examples:
      hbopt validate bollinger_binance_perpetual_BTC-USDT
      hbopt validate nightly --json | jq -e '.verdict == "pass"'
      hbopt validate nightly --min-dsr 0.9 --max-pbo 0.3
      hbopt validate nightly --costs exchange   # the holdout, neighbourhood and stress under other costs
      hbopt validate nightly --set leverage=5   # ... with a field the study did not search set otherwise

    With cost options or --set, the best's holdout, neighbourhood and cost stress run with them
    (over the study's own); the statistics still read the trials as the search scored them.
    """
    from hbopt import api

    result = api.validate(name, **options, on_stage=say(not as_json))
    if as_json:
        return emit_json(result)
    print_verdict(result)


@cli.command(context_settings=CONTEXT)
@spec_options
@click.option("--folds", type=int, default=4, show_default=True, help="Test windows, one after another (1 to 50).")
@click.option("--anchored", is_flag=True, help="Train each fold on everything before its test window (default: "
                                               "a rolling window three test windows long).")
@click.option("--iter", "n_trials", type=click.IntRange(min=1), default=100, show_default=True,
              help="Trials of each fold's optimisation.")
@click.option("--study", help="Walk-forward name (its folds are studies NAME-wf1...); "
                              "the same name again adds trials to each fold.")
@pool_options
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def walkforward(as_json, **options):
    """Walk-forward with re-optimisation: each fold optimises afresh on its training window,
    then its winner trades the test window after it; the test windows stitch into one
    out-of-sample run.

    \b
    Examples:
      hbopt walkforward study.yml --folds 4 --iter 200 --turbo
      hbopt walkforward --controller bollinger --days 180 --folds 6 --anchored --iter 100 --json
    """
    from hbopt import api

    talk = not as_json
    with LiveView(enabled=talk and err.is_terminal) as view:
        results = api.walkforward(**options, on_plan=lambda name, p: talk and print_plan(name, p),
                                  on_progress=view.update, on_stage=say(talk))
    if as_json:
        return emit_json(results)
    for r in results:
        print_walkforward(r)


def print_plan(name: str, plan: dict) -> None:
    from hbopt.engine.market_data import utc

    for pair, folds in plan["pairs"].items():
        for i, f in enumerate(folds, start=1):
            err.print(f"{name} {pair} fold {i}: train {utc(f['train'][0])} -> {utc(f['train'][1])}, "
                      f"test {utc(f['test'][0])} -> {utc(f['test'][1])}", highlight=False, soft_wrap=True)


def print_walkforward(r: dict) -> None:
    oos = r["out_of_sample"]
    out.print(table(["fold", f"train {r['objective']}", f"test {r['objective']}", "train PnL", "test PnL", "winner"],
                    [[f["fold"], _number(f["train_value"]), _number(f["test_value"]), _number(f["train_pnl"]),
                      _number(f["test_pnl"]), ", ".join(f"{k}={_number(v)}" for k, v in f["params"].items())]
                     for f in r["folds"]], title=f"walk-forward {r['name']}"))
    out.print(f"out of sample: PnL {_number(oos['pnl_quote'])} over {oos['days']:g} days, Sharpe "
              f"{_number(oos['sharpe_annual'])} a year, max drawdown {_number(oos['max_drawdown_quote'])} "
              f"({oos['max_drawdown_pct']:.1%} of the capital); "
              f"efficiency {_number(r['efficiency'])}, profitable folds {r['profitable_folds']:.0%}")
    out.print("parameter spread between folds: " + ", ".join(f"{k} {m['spread']:.2f}" for k, m in r["stability"].items()))
    out.print(f"report: {r['report']}")


# ------------------------------------------------------------------------------------- study
@cli.group(context_settings=CONTEXT)
def study():
    """Studies on disk: list, show, best, export, export-config, repair."""


@study.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True)
def study_list(as_json):
    """List the studies in $HBOPT_HOME/studies.

    Example: hbopt study list
    """
    from hbopt.search.studies import list_studies

    rows = list_studies()
    if as_json:
        return emit_json(rows)
    out.print(table(["study", "controller", "connector", "pairs", "trials", "complete", "objective"],
                    [[r["study"], "error", None, None, None, None, None] if "error" in r else
                     [r["study"], r["controller"], r["connector"], ",".join(r["pairs"]), r["trials"], r["complete"],
                      ",".join(r["objective"])] for r in rows]))
    for r in rows:
        if "error" in r:
            out.print(f"  {r['error']}", markup=False, highlight=False, soft_wrap=True)


@study.command("repair", context_settings=CONTEXT)
@click.argument("name")
@click.option("--storage", help="The study's storage URL, when its manifest (which records it) is lost.")
@click.option("--json", "as_json", is_flag=True)
def study_repair(name, storage, as_json):
    """Make a damaged study whole: its journal keeps every whole record (the original is kept as
    journal.log.damaged), and a missing or damaged manifest is rebuilt from the spec and windows
    the study keeps in its storage. A study that is whole is left as it is.

    Example: hbopt study repair nightly
    """
    from hbopt.search.studies import repair

    report = repair(name, storage)
    if as_json:
        return emit_json(report)
    journal = report["journal"]
    if journal and journal["dropped"]:
        lines = ", ".join(map(str, journal["dropped"][:10])) + (" ..." if len(journal["dropped"]) > 10 else "")
        out.print(f"study {name}: journal: kept {journal['kept']} whole records, dropped line(s) {lines}; the "
                  f"original is kept as {journal['backup']}", markup=False, highlight=False, soft_wrap=True)
    elif journal:
        out.print(f"study {name}: journal: all {journal['kept']} records are whole")
    out.print(f"study {name}: manifest " + ("rebuilt from the study's storage (its run history is lost)"
                                             if report["manifest"] == "rebuilt" else "is whole"))


@study.command("delete", context_settings=CONTEXT)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def study_delete(name, as_json):
    """Delete a study: its folder and, for one on a database (--storage), its trials there.
    Refused while a run holds it (exit 6).

    Example: hbopt study delete noargs
    """
    from hbopt.search.studies import delete

    info = delete(name)
    if as_json:
        return emit_json(info)
    out.print(f"deleted study {name}" + (f" (and its trials in {info['storage']})" if info["storage"] else ""),
              markup=False, highlight=False)


@study.command("show", context_settings=CONTEXT)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def study_show(name, as_json):
    """A study's spec, manifest (seed, versions, data checksums), counts and best trial.

    Example: hbopt study show nightly
    """
    from hbopt.search.studies import show

    info = show(name)
    if as_json:
        return emit_json(info)
    out.print_json(data=info)


@study.command("best", context_settings=CONTEXT)
@click.argument("name")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def study_best(name, top, as_json):
    """The best feasible trials (Pareto front first for several objectives).

    Example: hbopt study best nightly --top 20
    """
    from hbopt.search.storage import StudyFolder
    from hbopt.search.studies import best
    from hbopt.validation.studies import load_validation

    rows = best(name, top)
    validation = load_validation(StudyFolder(name))
    if as_json:
        holdout = {r["number"]: r for r in (validation or {}).get("holdout", [])}
        return emit_json([{**row, "holdout": holdout.get(row["number"], {}).get("holdout"),
                           "holdout_pairs": holdout.get(row["number"], {}).get("pairs")} for row in rows])
    print_best(rows, title=f"best {len(rows)} trials of {name}", validation=validation)
    if (validation or {}).get("verdict"):
        print_verdict(validation)


@study.command("export", context_settings=CONTEXT)
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--out", "out_file", type=click.Path(path_type=Path), help="Write here instead of stdout.")
def study_export(name, fmt, out_file):
    """Every trial with its params, metrics and error, as CSV or JSON lines.

    Example: hbopt study export nightly --format jsonl --out nightly.jsonl
    """
    from hbopt.files import is_stream, write_output
    from hbopt.search.studies import export_trials

    if out_file:
        is_stream(out_file)  # refused before the study is read
    text = export_trials(name, fmt)
    if out_file:
        write_output(out_file, text)
    else:
        click.echo(text, nl=False)


@study.command("export-config", context_settings=CONTEXT)
@click.argument("name")
@click.option("--best", "best_n", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many of the best trials to export.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="A folder laid out like a Hummingbot install (conf/controllers, conf/scripts, controllers).")
@click.option("--controllers-path", type=click.Path(path_type=Path),
              help="The controllers folder a study of your own controller ran with.")
@click.option("--json", "as_json", is_flag=True)
def study_export_config(name, best_n, out_dir, controllers_path, as_json):
    """Write the best trials as a folder to copy into a Hummingbot install as it is: their
    controller configs, a v2_with_controllers script config per rank, and the controller's source.

    Example: hbopt study export-config nightly --best 3 --out deploy/
    """
    from hbopt.search.deploy import export_configs

    written = export_configs(name, best_n, out_dir, controllers_path)
    for warning in written["warnings"]:
        warn(warning)
    if as_json:
        return emit_json(written)
    for path in written["configs"] + written["scripts"] + written["controllers"]:
        out.print(path, markup=False, highlight=False, soft_wrap=True)


# ------------------------------------------------------------------------------- controllers
@cli.group(context_settings=CONTEXT)
def controllers():
    """Built-in and user controllers."""


@controllers.command("list", context_settings=CONTEXT)
@click.option("--controllers-path", type=click.Path(path_type=Path), help="Your own controllers folder.")
@click.option("--json", "as_json", is_flag=True)
def controllers_list(controllers_path, as_json):
    """List the controllers hbopt can load, with their default search spaces (or, for one whose
    module fails to import, the error).

    Example: hbopt controllers list
    """
    from hbopt.engine.controllers import controller_catalog, controllers_module

    entries = controller_catalog(controllers_module(controllers_path))
    if as_json:
        return emit_json(entries)
    out.print(table(["name", "type", "package", "search space"],
                    [[e["name"], e["type"], e["package"],
                      escape(e["error"]) if "error" in e else ", ".join(e["search_space"]) or "-"]
                     for e in entries]))


@controllers.command("show", context_settings=CONTEXT)
@click.argument("name")
@click.option("--controllers-path", type=click.Path(path_type=Path), help="Your own controllers folder.")
@click.option("--json", "as_json", is_flag=True)
def controllers_show(name, controllers_path, as_json):
    """A controller's config fields (type, default, whether it must be set) and the search space
    hbopt would use for it: the one it ships, else one inferred from its defaults.

    \b
    Examples:
      hbopt controllers show bollinger
      hbopt controllers show bollinger_v1 --controllers-path ~/hummingbot/controllers --json
    """
    from hbopt.engine.controllers import controllers_module
    from hbopt.search.study_file import controller_details

    info = controller_details(name, controllers_module(controllers_path))
    if as_json:
        return emit_json(info)
    out.print(table(["field", "type", "default", "required", "choices"],
                    [[f["name"], escape(f["type"]), escape(ujson.dumps(f["default"])), "yes" if f["required"] else "",
                      ", ".join(map(str, f.get("choices", [])))] for f in info["fields"]],
                    title=f"{name} ({info['type']}): config fields"))
    out.print(table(["param", "type", "range or choices", "step"],
                    [[p, s["type"], ", ".join(map(str, s["choices"])) if "choices" in s else f"{s['low']} .. {s['high']}",
                      s.get("step")] for p, s in info["search_space"].items()],
                    title=f"search space ({info['search_space_source']})"))
    if info["relations"]:
        out.print("relations: " + ", ".join(info["relations"]), markup=False, highlight=False)


# ------------------------------------------------------------------------------------- space
@cli.group(context_settings=CONTEXT)
def space():
    """Search spaces: init."""


@space.command("init", context_settings=CONTEXT)
@click.argument("name")
@click.option("--controllers-path", type=click.Path(path_type=Path), help="Your own controllers folder.")
def space_init(name, controllers_path):
    """Print a commented study file for controller NAME: the search space hbopt would use (the
    one it ships, else one inferred from its defaults), its relations, every other config field
    at its default (required ones marked) and the study's settings, to edit and pass to discover.

    \b
    Examples:
      hbopt space init bollinger > study.yml && hbopt discover study.yml
      hbopt space init macd_bb_v1 --controllers-path ~/hummingbot/controllers > macd.yml
    """
    from hbopt.engine.controllers import controllers_module
    from hbopt.search.study_file import controller_details, study_file_text

    click.echo(study_file_text(controller_details(name, controllers_module(controllers_path)), controllers_path),
               nl=False)


# -------------------------------------------------------------------------------------- main
def main() -> None:
    """Entry point: run the CLI, turning errors into one line and a documented exit code.

    The command runs outside click's own ``main``, which would end a run silently with exit code
    1 on any broken pipe. Standard output is flushed here, inside the handlers: a reader that went
    away (``hbopt ... | head``) is exit 141 with nothing more said, a full disk (``> /dev/full``)
    exit 4 naming it, and a short write is never exit 0. Where the terminal's encoding cannot
    show a character (``PYTHONIOENCODING=ascii``), it is written as its nearest ASCII.
    """
    debug = "--debug" in sys.argv[1:] or os.environ.get("HBOPT_DEBUG") not in (None, "", "0")
    _write_what_encodings_cannot_show()
    stream = sys.stdout
    sys.stdout = CheckedStdout(stream)
    try:
        _run(debug)
    finally:
        sys.stdout = stream


def _run(debug: bool) -> None:
    code = 0
    try:
        with cli.make_context("hbopt", sys.argv[1:]) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Exit as exc:  # --help, --version
        code = exc.exit_code
    except click.UsageError as exc:
        helped = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        err.print(f"error: {exc.format_message()}{helped}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(130)
    except HboptError as exc:
        if debug:
            raise
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except StdoutError as exc:
        _stdout_failed(exc, debug)
    except SystemExit as exc:  # hbopt's commands never exit: code they ran did
        _internal_error(debug, f"code run by the command called sys.exit({exc.code!r})")
    except Exception as exc:
        if _caused_by_interrupt(exc):  # a library that turned Ctrl-C into an error of its own
            err.print("interrupted")
            sys.exit(130)
        _internal_error(debug)
    try:
        sys.stdout.flush()
    except StdoutError as exc:
        _stdout_failed(exc, debug)
    sys.exit(code)


def _caused_by_interrupt(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _stdout_failed(exc: StdoutError, debug: bool) -> None:
    """Standard output's reader left (exit 141, nothing said) or its disk is full (exit 4). It
    is then pointed at /dev/null, so that Python's own flush at exit stays quiet."""
    from hbopt.files import is_no_space

    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())
    if exc.cause.errno == errno.EPIPE:
        sys.exit(141)  # what a shell reports for a reader that went away
    if debug:
        raise exc
    reason = "the disk is full" if is_no_space(exc.cause) else exc
    err.print(f"error: cannot write standard output: {reason}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(4)


_ASCII = {"…": "...", "—": "-", "–": "-", "→": "->", "←": "<-", "±": "+/-", "×": "x", "µ": "u", "’": "'",
          "‘": "'", "“": '"', "”": '"', "≥": ">=", "≤": "<=", "•": "*", "·": "."}


def _nearest_ascii(error: UnicodeEncodeError):
    return "".join(_ASCII.get(c, "?") for c in error.object[error.start:error.end]), error.end


def _write_what_encodings_cannot_show() -> None:
    """Standard output and error write a character their encoding lacks as its nearest ASCII
    (tables then draw their borders in ASCII: rich does so for any encoding but UTF)."""
    codecs.register_error("hbopt_ascii", _nearest_ascii)
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            "…—".encode(encoding)
        except UnicodeEncodeError:
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(errors="hbopt_ascii")
        except LookupError:
            pass


def _internal_error(debug: bool, what: str | None = None) -> None:
    """A bug: say so in one line and exit 1; ``--debug`` shows the traceback."""
    if debug:
        raise
    exc = sys.exc_info()[1]
    err.print(f"internal error: {what or f'{type(exc).__name__}: {exc}'} (rerun with --debug for the traceback)",
              markup=False, highlight=False, soft_wrap=True)
    sys.exit(1)
