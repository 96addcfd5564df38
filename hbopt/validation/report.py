"""The validation's part of a study report, and the walk-forward report: HTML with plotly charts."""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hbopt.search.report import chart, times, write_page
from hbopt.search.space import shown, shown_value

COLOURS = {"in-sample": "#1f77b4", "holdout": "#9467bd"}  # each window's equity and drawdown


def _fmt(value, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return "-" if value is None else str(value)


def _table(columns, rows) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def verdict_html(validation: dict) -> str:
    verdict = validation["verdict"]
    rows = [[r["check"], r["figure"], r.get("in_sample"), r["threshold"], "pass" if r["passed"] else "fail",
             "yes" if r["required"] else "no (shown)", r.get("note", "")] for r in validation["reasons"]]
    return (f'<h2>Verdict: <span class="{verdict}">{verdict}</span></h2>'
            + _table(["check", "figure", "in sample", "threshold", "result", "required", "note"], rows))


def holdout_figure(rows: list[dict], metric: str) -> go.Figure | None:
    """In-sample against holdout score of the top trials, with the diagonal y = x."""
    points = [r for r in rows if r["holdout"] is not None]
    if len(points) < 2:
        return None
    values = [r["in_sample"] for r in points] + [r["holdout"] for r in points]
    lo, hi = min(values), max(values)
    fig = go.Figure([go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="holdout = in-sample",
                                line={"dash": "dash", "color": "#999"}),
                     go.Scatter(x=[r["in_sample"] for r in points], y=[r["holdout"] for r in points], mode="markers",
                                name="trial", marker={"size": 9}, text=[f"#{r['number']}" for r in points],
                                hovertemplate="%{text}: %{x:.4g} in sample, %{y:.4g} on the holdout<extra></extra>")])
    fig.add_hline(y=0, line={"color": "#c62828", "width": 1})
    fig.update_layout(xaxis_title=f"in-sample {metric}", yaxis_title=f"holdout {metric}")
    return fig


def pbo_figure(histogram: dict, pbo: float) -> go.Figure:
    """The PBO logits: left of zero, the in-sample best ranked in the lower half out of sample."""
    counts, edges = histogram["counts"], np.asarray(histogram["edges"], dtype=float)
    fig = go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges),
                           marker={"color": ["#c62828" if e <= 0 else "#2e7d32" for e in edges[1:]]},
                           hovertemplate="logit %{x:.3g}: %{y} splits<extra></extra>"))
    fig.add_vline(x=0, line={"color": "#333"})
    fig.update_layout(xaxis_title=f"logit of the in-sample best's out-of-sample rank (PBO = share left of 0 = {pbo:.3f})",
                      yaxis_title="splits", bargap=0.05)
    return fig


def heatmap_figure(heat: dict, metric: str, maximize: bool, space) -> go.Figure | None:
    """The objective around the best for the two most important parameters (the best outlined)."""
    if not any(v is not None for row in heat["values"] for v in row):
        return None
    xs = [shown_value(space, heat["x"], v) for v in heat["xs"]]
    ys = [shown_value(space, heat["y"], v) for v in heat["ys"]]
    fig = go.Figure(go.Heatmap(z=heat["values"], x=xs, y=ys, colorscale="Viridis", reversescale=not maximize,
                               texttemplate="%{z:.4g}", colorbar={"title": {"text": metric}},
                               hovertemplate=f"{heat['x']} %{{x}}, {heat['y']} %{{y}}: %{{z:.4g}}<extra></extra>"))
    i, j = heat["xs"].index(heat["best"][0]), heat["ys"].index(heat["best"][1])
    fig.add_shape(type="rect", x0=i - 0.5, x1=i + 0.5, y0=j - 0.5, y1=j + 0.5, line={"color": "#000", "width": 3})
    fig.update_layout(xaxis={"title": heat["x"], "type": "category"}, yaxis={"title": heat["y"], "type": "category"})
    return fig


def best_trial_figure(in_sample: dict | None, holdout: dict | None, holdout_start: float | None) -> go.Figure | None:
    """A trial on one pair, over the in-sample window then the holdout (each its own
    account from the starting capital; the boundary marked): the close with every fill at its
    price, the equity, and its drawdown as a share of the capital. ``in_sample``/``holdout`` are
    the windows' ledgers (:func:`hbopt.engine.backtest.backtest` with ``ledger``), ``holdout_start``
    the holdout window's start (its first tick can come later: Hummingbot drops the ticks that lack
    a feature)."""
    windows = [(label, ledger) for label, ledger in (("in-sample", in_sample), ("holdout", holdout)) if ledger]
    if not windows:
        return None
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.45, 0.33, 0.22])
    for label, ledger in windows:
        curve, colour = ledger["equity"], COLOURS[label]
        when = times(curve["timestamp"])
        fig.add_trace(go.Scatter(x=when, y=curve["close"], mode="lines", name=f"close ({label})",
                                 line={"color": "#777", "width": 1}), row=1, col=1)
        for side, symbol, fill_colour in (("BUY", "triangle-up", "#2e7d32"), ("SELL", "triangle-down", "#c62828")):
            fills = [f for f in ledger["fills"] if f["side"] == side]
            fig.add_trace(go.Scatter(
                x=times([f["timestamp"] for f in fills]), y=[f["price"] for f in fills], mode="markers",
                name=f"{side.lower()} fills ({label})", marker={"symbol": symbol, "color": fill_colour, "size": 7},
                text=[f"{f['kind']} {f['amount']:.6g} at {f['price']:.6g}, fee {f['fee_quote']:.4g}" for f in fills],
                hovertemplate="%{text}<extra></extra>"), row=1, col=1)
        fig.add_trace(go.Scatter(x=when, y=curve["equity"], mode="lines", name=f"equity ({label})",
                                 line={"color": colour}), row=2, col=1)
        fig.add_trace(go.Scatter(x=when, y=-100 * np.asarray(curve["drawdown_pct"]), mode="lines", fill="tozeroy",
                                 name=f"drawdown ({label})", line={"color": colour, "width": 1}), row=3, col=1)
    if holdout_start is not None:
        boundary = times([holdout_start])[0]
        fig.add_vline(x=boundary, line={"dash": "dash", "color": "#f0ad4e"})
        fig.add_annotation(x=boundary, y=1, yref="paper", text="holdout starts", showarrow=False, xanchor="left")
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="equity (quote)", row=2, col=1)
    fig.update_yaxes(title_text="drawdown (% of capital)", row=3, col=1)
    fig.update_layout(height=720)
    return fig


def walkforward_figure(walk: dict) -> go.Figure | None:
    """The stitched out-of-sample PnL of the folds' winners over time, each fold's start marked."""
    oos = walk["out_of_sample"]
    if len(oos["pnl"]) < 2:
        return None
    starts, period = oos["fold_starts"] + [len(oos["pnl"])], oos["period_s"]
    ends = [min(fold["test"][0] + period * (k + 1), fold["test"][1])
            for fold, first, last in zip(walk["folds"], starts, starts[1:]) for k in range(last - first)]
    first = walk["folds"][0]["test"][0]
    fig = go.Figure(go.Scatter(x=times([first] + ends), y=np.concatenate([[0.0], np.cumsum(oos["pnl"])]),
                               mode="lines", name="out-of-sample PnL", line={"color": "#2e7d32"}))
    for fold in walk["folds"]:
        start = times([fold["test"][0]])[0]
        fig.add_vline(x=start, line={"dash": "dot", "color": "#f0ad4e"})
        fig.add_annotation(x=start, y=1, yref="paper", text=f"fold {fold['fold']}", showarrow=False, xanchor="left")
    fig.update_layout(yaxis_title="PnL (quote, account)")
    return fig


def walkforward_chart(walk: dict) -> str:
    """:func:`walkforward_figure` as a chart, for the study report and the walk-forward's own."""
    return chart(walkforward_figure(walk), "walkforward",
                 "Walk-forward: stitched out-of-sample equity of each fold's winner (dotted: a fold starts)")


def validation_sections(validation: dict, spec, ledgers: dict) -> tuple[str, ...]:
    """The study report's validation of ``spec``'s study: the verdict, the holdout of the top
    trials, the best trial's fills and equity per pair (from ``ledgers``, by (trial number, pair,
    window)), the statistics, the neighbourhood, the walk-forward (if one ran) and the cost
    stress, with their charts."""
    metric = spec.objectives[0].metric
    parts = [verdict_html(validation)] if "verdict" in validation else []
    if "error" in validation:
        return tuple(parts)
    windows = "".join(f"<li>{html.escape(pair)}: in-sample {_day(w['in_sample'])}, holdout "
                      f"{_day(w['holdout']) if w.get('holdout') else 'none'}, gap {w['gap'] / 3600:g} h, "
                      f"warm-up {w['warmup'] / 3600:.3g} h</li>" for pair, w in validation["windows"].items())
    parts.append(f"<h2>Windows</h2><ul>{windows}</ul>")
    rows = validation["holdout"]
    if rows:
        parts.append("<h2>Holdout of the top trials</h2>" + _table(
            ["#", f"in-sample {metric}", f"holdout {metric}", "holdout PnL (account) per pair", "error"],
            [[r["number"], r["in_sample"], r["holdout"],
              ", ".join(f"{p}: {_fmt(m['account']['pnl_quote'])}" for p, m in r["pairs"].items()), r["error"] or ""]
             for r in rows]))
        parts.append(chart(holdout_figure(rows, metric), "holdout",
                           "Top trials: in-sample against holdout (dashed: equal; red: zero)"))
    exchange = validation.get("exchange_holdout")
    if exchange:
        parts.append(f"<p>Searched under Hummingbot's fill model; the best's holdout under the exchange's costs: "
                     f"PnL (account) {_fmt(exchange['pnl_quote'])}"
                     + (f" ({html.escape(exchange['error'])})" if exchange["error"] else "") + ".</p>")
    best = validation["best"]
    parts += [chart(best_trial_figure(ledgers.get((best, pair, "in-sample")), ledgers.get((best, pair, "holdout")),
                                      (w.get("holdout") or [None])[0]),
                    f"best-{pair}", f"Best trial #{best} on {pair}: its fills on the price, its equity and drawdown "
                                    "in sample and on the holdout")
              for pair, w in validation["windows"].items()]
    if "verdict" not in validation:  # the holdout only (discover --no-validate)
        return tuple(p for p in parts if p)
    stats = validation["statistics"]
    if "error" not in stats:
        parts.append("<h2>Overfitting statistics</h2>" + _table(
            ["trials", "effective trials", "periods", "best Sharpe (annual)", "expected max Sharpe of chance (per period)",
             "deflated Sharpe ratio", "PBO"],
            [[stats["trials"], stats["effective_trials"], f"{stats['periods']} x {stats['period_s'] / 3600:g} h",
              stats["best_sharpe_annual"], stats["expected_max_sharpe"], stats["dsr"], stats["pbo"]]]))
        if stats.get("pbo_histogram"):
            parts.append(chart(pbo_figure(stats["pbo_histogram"], stats["pbo"]), "pbo",
                               "Probability of backtest overfitting: CSCV logits"))
    hood = validation["neighbourhood"]
    parts.append(f"<h2>Neighbourhood</h2><p>{len(hood['points'])} neighbours of the best ({_fmt(hood['best'])}): "
                 f"median {_fmt(hood['median'])}, range {_fmt(hood['min'])} .. {_fmt(hood['max'])}.</p>")
    if hood.get("heatmap"):
        maximize = validation["direction"] == "maximize"
        parts.append(chart(heatmap_figure(hood["heatmap"], metric, maximize, spec.space), "neighbourhood",
                           f"Neighbourhood of the best (outlined): {metric}" + ("" if maximize else ", lower is better")))
    walk = validation.get("walkforward")
    if walk:
        oos = walk["out_of_sample"]
        parts.append(f"<h2>Walk-forward</h2><p>{len(walk['folds'])} folds: out-of-sample PnL (account) "
                     f"{_fmt(oos['pnl_quote'])} over {oos['days']:g} days, efficiency {_fmt(walk['efficiency'])}, "
                     f"profitable folds {walk['profitable_folds']:.0%}.</p>")
        parts.append(walkforward_chart(walk))
    stress = validation["stress"]
    stressed = (f"{stress['multiple']:g}x the exchange's fees and slippage" if stress.get("model") == "exchange"
                else f"a trade cost of {stress['trade_cost']:g}")
    parts.append(f"<h2>Cost stress</h2><p>The best at {stressed}: PnL (account) "
                 f"{_fmt(stress.get('in_sample'))} in sample, {_fmt(stress.get('holdout'))} on the holdout.</p>")
    return tuple(p for p in parts if p)


def _day(segment) -> str:
    from hbopt.engine.market_data import utc

    return f"{utc(segment[0])} → {utc(segment[1])}"


def write_walkforward_report(path, result: dict, space) -> None:
    """The walk-forward's page: its stitched equity, folds, out-of-sample figures and how far the
    winners' parameters (of ``space``) move."""
    metric = result["objective"]
    oos = result["out_of_sample"]
    parts = [f"<h1>Walk-forward {html.escape(result['name'])}</h1>",
             f"<p>{len(result['folds'])} folds ({'anchored' if result['anchored'] else 'rolling'}), "
             f"{result['trials_per_fold']} trials each, objective {html.escape(metric)}.</p>",
             walkforward_chart(result),
             "<h2>Folds</h2>" + _table(
                 ["fold", "train", "test", f"train {metric}", f"test {metric}", "train PnL", "test PnL", "winner"],
                 [[f["fold"], _day(f["train"]), _day(f["test"]), f["train_value"], f["test_value"],
                   f["train_pnl"], f["test_pnl"], shown(space, f["params"])] for f in result["folds"]]),
             "<h2>Out of sample (the account of each fold's winner)</h2>" + _table(
                 ["PnL", "days", "Sharpe (annual)", "max drawdown", "max drawdown (of capital)", "efficiency",
                  "profitable folds"],
                 [[oos["pnl_quote"], oos["days"], oos["sharpe_annual"], oos["max_drawdown_quote"],
                   f"{oos['max_drawdown_pct']:.1%}", result["efficiency"], f"{result['profitable_folds']:.0%}"]]),
             "<h2>How far the winners' parameters move</h2>" + _table(
                 ["parameter", "winners", "spread"],
                 [[name, ", ".join(shown_value(space, name, v) for v in m["values"]),
                   m["spread"]] for name, m in result["stability"].items()])]
    write_page(path, f"walk-forward {result['name']}", parts)
