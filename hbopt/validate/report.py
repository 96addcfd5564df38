"""The validation's part of a study report, and the walk-forward report: HTML with inline SVG."""
from __future__ import annotations

import html

from hbopt.search.report import PAD, W, H, scale, svg, write_page

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
    rows = [[r["check"], r["figure"], r["threshold"], "pass" if r["passed"] else "fail",
             "yes" if r["required"] else "no (shown)", r.get("note", "")] for r in validation["reasons"]]
    return (f'<h2>Verdict: <span class="{verdict}">{verdict}</span></h2>'
            + _table(["check", "figure", "threshold", "result", "required", "note"], rows))


def scatter_svg(rows: list[dict], metric: str) -> str:
    """In-sample against holdout score of the top trials, with the diagonal y = x."""
    points = [(r["in_sample"], r["holdout"], r["number"]) for r in rows if r["holdout"] is not None]
    if len(points) < 2:
        return ""
    values = [p[0] for p in points] + [p[1] for p in points]
    x, y = scale(values, PAD, W - 10), scale(values, H - PAD, 10)
    lo, hi = min(values), max(values)
    body = f'<line x1="{x(lo):.1f}" y1="{y(lo):.1f}" x2="{x(hi):.1f}" y2="{y(hi):.1f}" stroke="#aaa" stroke-dasharray="4"/>'
    if lo < 0 < hi:
        body += f'<line x1="{PAD}" y1="{y(0):.1f}" x2="{W - 10}" y2="{y(0):.1f}" stroke="#d9534f" stroke-width="0.5"/>'
    body += "".join(f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="4" fill="#4a7ebb"><title>#{n}: {a:.4g} / {b:.4g}</title></circle>'
                    for a, b, n in points)
    body += (f'<text x="{W // 2}" y="{H - 8}" font-size="11">in-sample {html.escape(metric)}</text>'
             f'<text x="4" y="14" font-size="11">holdout {html.escape(metric)}</text>')
    return svg(body, "Top trials: in-sample vs holdout score (dashed: equal; red: zero)")


def histogram_svg(histogram: dict, pbo: float) -> str:
    """The PBO logits: left of zero, the in-sample best ranked in the lower half out of sample."""
    counts, edges = histogram["counts"], histogram["edges"]
    top = max(counts) or 1
    x = scale(edges, PAD, W - 10)
    bars = "".join(f'<rect x="{x(edges[i]):.1f}" y="{H - PAD - c / top * (H - PAD - 20):.1f}" '
                   f'width="{x(edges[i + 1]) - x(edges[i]) - 1:.1f}" height="{c / top * (H - PAD - 20):.1f}" '
                   f'fill="{"#d9534f" if edges[i + 1] <= 0 else "#5cb85c"}"/>' for i, c in enumerate(counts))
    axis = (f'<line x1="{x(0):.1f}" y1="10" x2="{x(0):.1f}" y2="{H - PAD}" stroke="#333"/>'
            f'<text x="{PAD}" y="{H - 8}" font-size="11">logit of the best\'s out-of-sample rank '
            f'({edges[0]:g} .. {edges[-1]:g}); PBO = share left of 0 = {pbo:.3f}</text>')
    return svg(bars + axis, "Probability of backtest overfitting: CSCV logits")


def heatmap_svg(heat: dict, metric: str, maximize: bool = True) -> str:
    """The objective around the best for the two most important parameters (the best outlined)."""
    xs, ys, values = heat["xs"], heat["ys"], heat["values"]
    known = [v for row in values for v in row if v is not None]
    if not known:
        return ""
    shade = scale(known, 0.1, 1.0) if maximize else scale([-v for v in known], 0.1, 1.0)
    cw, ch = (W - 2 * PAD) / len(xs), (H - 2 * PAD) / len(ys)
    cells = ""
    for j, row in enumerate(values):
        for i, v in enumerate(row):
            cx, cy = PAD + i * cw, H - PAD - (j + 1) * ch
            fill = f'fill="#8e44ad" fill-opacity="{shade(v if maximize else -v):.2f}"' if v is not None else 'fill="#eee"'
            if [xs[i], ys[j]] == heat["best"]:
                fill += ' stroke="#000" stroke-width="2"'
            cells += (f'<rect x="{cx:.1f}" y="{cy:.1f}" width="{cw - 2:.1f}" height="{ch - 2:.1f}" {fill}/>'
                      f'<text x="{cx + 6:.1f}" y="{cy + ch / 2:.1f}" font-size="11">{_fmt(v)}</text>')
    labels = "".join(f'<text x="{PAD + (i + 0.4) * cw:.1f}" y="{H - PAD + 14}" font-size="10">{_fmt(a)}</text>'
                     for i, a in enumerate(xs))
    labels += "".join(f'<text x="2" y="{H - PAD - (j + 0.5) * ch:.1f}" font-size="10">{_fmt(b)}</text>'
                      for j, b in enumerate(ys))
    labels += (f'<text x="{W // 2}" y="{H - 6}" font-size="11">{html.escape(heat["x"])}</text>'
               f'<text x="{PAD}" y="12" font-size="11">{html.escape(heat["y"])}</text>')
    return svg(cells + labels, f"Neighbourhood of the best (outlined): {metric} (darker = better)")


def equity_svg(stitched: list[float], boundaries: list[int], title: str) -> str:
    """Cumulative PnL of consecutive out-of-sample periods, with a line where each fold starts."""
    if len(stitched) < 2:
        return ""
    curve, total = [], 0.0
    for v in stitched:
        total += v
        curve.append(total)
    x, y = scale(range(len(curve)), PAD, W - 10), scale(curve + [0.0], H - PAD, 10)
    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(curve))
    body = f'<line x1="{PAD}" y1="{y(0):.1f}" x2="{W - 10}" y2="{y(0):.1f}" stroke="#aaa"/>'
    body += "".join(f'<line x1="{x(b):.1f}" y1="10" x2="{x(b):.1f}" y2="{H - PAD}" stroke="#f0ad4e" stroke-dasharray="3"/>'
                    for b in boundaries)
    body += f'<polyline points="{line}" fill="none" stroke="#2e7d32" stroke-width="2"/>'
    body += (f'<text x="{PAD}" y="{H - 8}" font-size="11">out-of-sample periods (dashed: a fold starts)</text>'
             f'<text x="4" y="14" font-size="11">net PnL: {curve[-1]:.4g}</text>')
    return svg(body, title)


def validation_sections(validation: dict, metric: str) -> tuple[str, ...]:
    """The study report's validation: the verdict, the holdout of the top trials, the statistics,
    the neighbourhood, the walk-forward (if one ran) and the cost stress, with their plots."""
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
            ["#", f"in-sample {metric}", f"holdout {metric}", "holdout net PnL per pair", "error"],
            [[r["number"], r["in_sample"], r["holdout"],
              ", ".join(f"{p}: {_fmt(m['account']['pnl_quote'])}" for p, m in r["pairs"].items()), r["error"] or ""]
             for r in rows]))
        parts.append(scatter_svg(rows, metric))
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
            parts.append(histogram_svg(stats["pbo_histogram"], stats["pbo"]))
    hood = validation["neighbourhood"]
    parts.append(f"<h2>Neighbourhood</h2><p>{len(hood['points'])} neighbours of the best ({_fmt(hood['best'])}): "
                 f"median {_fmt(hood['median'])}, range {_fmt(hood['min'])} .. {_fmt(hood['max'])}.</p>")
    if hood.get("heatmap"):
        parts.append(heatmap_svg(hood["heatmap"], metric, validation["direction"] == "maximize"))
    walk = validation.get("walkforward")
    if walk:
        oos = walk["out_of_sample"]
        parts.append(f"<h2>Walk-forward</h2><p>{len(walk['folds'])} folds: out-of-sample net PnL "
                     f"{_fmt(oos['pnl_quote'])} over {oos['days']:g} days, efficiency {_fmt(walk['efficiency'])}, "
                     f"profitable folds {walk['profitable_folds']:.0%}.</p>")
        parts.append(equity_svg(oos["pnl"], oos["fold_starts"], "Walk-forward: stitched out-of-sample equity"))
    stress = validation["stress"]
    parts.append(f"<h2>Cost stress</h2><p>The best at a trade cost of {stress['trade_cost']:g}: net PnL "
                 f"{_fmt(stress.get('in_sample'))} in sample, {_fmt(stress.get('holdout'))} on the holdout.</p>")
    return tuple(p for p in parts if p)


def _day(segment) -> str:
    from hbopt.engine.market_data import utc

    return f"{utc(segment[0])} → {utc(segment[1])}"


def write_walkforward_report(path, result: dict) -> None:
    metric = result["objective"]
    oos = result["out_of_sample"]
    parts = [f"<h1>Walk-forward {html.escape(result['name'])}</h1>",
             f"<p>{len(result['folds'])} folds ({'anchored' if result['anchored'] else 'rolling'}), "
             f"{result['trials_per_fold']} trials each, objective {html.escape(metric)}.</p>",
             equity_svg(oos["pnl"], oos["fold_starts"], "Stitched out-of-sample equity"),
             "<h2>Folds</h2>" + _table(
                 ["fold", "train", "test", f"train {metric}", f"test {metric}", "train net PnL", "test net PnL", "winner"],
                 [[f["fold"], _day(f["train"]), _day(f["test"]), f["train_value"], f["test_value"],
                   f["train_pnl"], f["test_pnl"], ", ".join(f"{k}={_fmt(v)}" for k, v in f["params"].items())]
                  for f in result["folds"]]),
             "<h2>Out of sample</h2>" + _table(
                 ["net PnL", "days", "Sharpe (annual)", "max drawdown", "efficiency", "profitable folds"],
                 [[oos["pnl_quote"], oos["days"], oos["sharpe_annual"], oos["max_drawdown_quote"],
                   result["efficiency"], result["profitable_folds"]]]),
             "<h2>How far the winners' parameters move</h2>" + _table(
                 ["parameter", "winners", "spread"],
                 [[name, ", ".join(_fmt(v) for v in m["values"]), m["spread"]] for name, m in result["stability"].items()])]
    write_page(path, f"walk-forward {result['name']}", parts)
