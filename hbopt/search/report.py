"""The study report: one self-contained HTML page (inline SVG, no plotting library) with the
trials that fell back from the turbo engine to the stock one, the optimisation history, parameter
importance, the best region, the top trials, the sections the caller adds (the validation's), the
warnings of the trials' backtests and the failures."""
from __future__ import annotations

import html
import math
import warnings

import optuna
from optuna.trial import TrialState

from hbopt.files import write_text_atomic

W, H, PAD = 640, 260, 40
STYLE = ("<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}figure{margin:1em 0}"
         ".pass{color:#2e7d32}.fail{color:#c62828}</style>")


def scale(values, lo_px, hi_px):
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return lambda v: lo_px + (v - lo) / span * (hi_px - lo_px)


def svg(body: str, title: str, height: int = H) -> str:
    """A figure of ``W`` x ``height`` pixels with a caption, around SVG ``body``."""
    return (f'<figure><figcaption>{html.escape(title)}</figcaption><svg width="{W}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg" style="background:#fafafa;border:1px solid #ddd">{body}</svg></figure>')


def history_svg(trials, maximize: bool, metric: str) -> str:
    """Each trial's objective and the running best."""
    if not trials:
        return "<p>No completed trials yet.</p>"
    xs = [t.number for t in trials]
    ys = [t.values[0] for t in trials]
    x, y = scale(xs, PAD, W - 10), scale(ys, H - PAD, 10)
    dots = "".join(f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="2.5" fill="#4a7ebb" opacity="0.6"/>' for a, b in zip(xs, ys))
    best, line = None, []
    for a, b in zip(xs, ys):
        best = b if best is None else (max(best, b) if maximize else min(best, b))
        line.append(f"{x(a):.1f},{y(best):.1f}")
    axes = (f'<text x="{PAD}" y="{H - 8}" font-size="11">trial</text>'
            f'<text x="4" y="14" font-size="11">{html.escape(metric)}: {min(ys):.4g} .. {max(ys):.4g}</text>')
    return svg(dots + f'<polyline points="{" ".join(line)}" fill="none" stroke="#d9534f" stroke-width="2"/>' + axes,
                "Optimisation history (dots: trials, line: best so far)")


def importance_svg(study: optuna.Study) -> tuple[str, list[str]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna warns when few trials make importances degenerate
            importance = optuna.importance.get_param_importances(study)
    except Exception as exc:  # too few trials, a single distinct value, ...
        return f"<p>Parameter importance not available: {html.escape(str(exc))}</p>", []
    names = list(importance)
    bar_h = max(12, min(28, (H - 20) // max(1, len(names))))
    rows = "".join(f'<rect x="180" y="{10 + i * bar_h}" width="{v * (W - 200):.1f}" height="{bar_h - 4}" fill="#5cb85c"/>'
                   f'<text x="4" y="{10 + i * bar_h + bar_h - 7}" font-size="11">{html.escape(n)} {v:.2f}</text>'
                   for i, (n, v) in enumerate(importance.items()))
    return svg(rows, "Parameter importance (fANOVA)"), names


def region_svg(trials, x_name: str, y_name: str, maximize: bool) -> str:
    """The two most important parameters, each trial coloured by its objective (dark = better)."""
    points = [(t.params[x_name], t.params[y_name], t.values[0]) for t in trials
              if isinstance(t.params.get(x_name), (int, float)) and isinstance(t.params.get(y_name), (int, float))]
    if len(points) < 2:
        return ""
    x = scale([p[0] for p in points], PAD, W - 10)
    y = scale([p[1] for p in points], H - PAD, 10)
    rank = scale([p[2] for p in points], 0.1, 1.0) if maximize else scale([-p[2] for p in points], 0.1, 1.0)
    dots = "".join(f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="4" fill="#8e44ad" opacity="{rank(c if maximize else -c):.2f}"/>'
                   for a, b, c in points)
    labels = (f'<text x="{W // 2}" y="{H - 8}" font-size="11">{html.escape(x_name)}</text>'
              f'<text x="4" y="14" font-size="11">{html.escape(y_name)}</text>')
    return svg(dots + labels, f"Best region: {x_name} vs {y_name}")


def warnings_html(top, complete) -> str:
    """The warnings of the top trials, and how many completed (distinct) trials carry each warning."""
    counts: dict[str, int] = {}
    for t in complete:
        if not t.user_attrs.get("duplicate"):
            for warning in t.user_attrs.get("warnings", []):
                counts[warning] = counts.get(warning, 0) + 1
    if not counts:
        return "<h2>Warnings</h2><p>No completed trial has warnings.</p>"
    overall = "".join(f"<li>{n} x {html.escape(w)}</li>" for w, n in sorted(counts.items(), key=lambda c: -c[1]))
    per_trial = "".join(f"<li>#{t.number}: {html.escape('; '.join(t.user_attrs['warnings']))}</li>"
                        for t in top if t.user_attrs.get("warnings"))
    return (f"<h2>Warnings</h2><p>Completed trials carrying each warning:</p><ul>{overall}</ul>"
            f"<p>Top trials:</p><ul>{per_trial or '<li>none has warnings</li>'}</ul>")


def fallbacks_html(trials) -> str:
    """How many trials that asked for the turbo engine ran the stock one, and why; nothing if none did."""
    from hbopt.search.optimize import TurboFallbacks

    fallbacks = TurboFallbacks.of(t.user_attrs for t in trials).as_dict()
    if not fallbacks["trials"]:
        return ""
    reasons = "".join(f"<li>{n} x {html.escape(r)}</li>" for r, n in fallbacks["reasons"].items())
    return (f"<h2>Turbo fallbacks</h2><p>{fallbacks['trials']} of {fallbacks['turbo_trials']} trials "
            f"({fallbacks['share']:.1%}) asked for the turbo engine but ran the stock engine for at least one "
            f"backtest, as turbo could not guarantee Hummingbot's result. Trials per reason:</p><ul>{reasons}</ul>")


def write_report(folder, study: optuna.Study, spec, sections: tuple[str, ...] = ()) -> None:
    """Write the study's report; ``sections`` (HTML) follow the top trials, e.g. its validation."""
    from hbopt.search.studies import ranked, trial_error

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    objective = spec.objectives[0]
    maximize = objective.direction == "maximize"
    parts = [f"<h1>Study {html.escape(folder.name)}</h1>",
             f"<p>{html.escape(spec.controller)} on {html.escape(spec.connector)} {html.escape(', '.join(spec.pairs))}; "
             f"objective: {html.escape(', '.join(o.metric + ' (' + o.direction + ')' for o in spec.objectives))}; "
             f"{len(complete)} complete, {len(failed)} failed trials.</p>", fallbacks_html(trials)]
    if len(spec.objectives) == 1:
        parts.append(history_svg(complete, maximize, objective.metric))
        figure, names = importance_svg(study) if len(complete) > 1 else ("", [])
        parts.append(figure)
        numeric = [n for n in names if all(isinstance(t.params.get(n), (int, float)) for t in complete if n in t.params)]
        if len(numeric) >= 2:
            parts.append(region_svg(complete, numeric[0], numeric[1], maximize))
    rows = ranked(study)[:20]
    columns = ["#", "values", "params", "PnL", "max DD", "Sharpe (annual)", "fills", "Hummingbot net PnL", "warnings"]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns)
    body = ""
    for t in rows:
        m = (t.user_attrs.get("metrics") or [{}])[0]
        a = m.get("account") or {}
        cells = [t.number, ", ".join(f"{v:.5g}" for v in t.values), ", ".join(f"{k}={v}" for k, v in t.params.items()),
                 _fmt(a.get("pnl_quote")), _fmt(a.get("max_drawdown_pct")), _fmt(a.get("sharpe")), a.get("fills"),
                 _fmt(m.get("net_pnl_quote")), len(t.user_attrs.get("warnings", [])) or ""]
        body += "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
    parts.append(f"<h2>Top trials</h2><table><tr>{head}</tr>{body}</table>")
    parts.extend(sections)
    parts.append(warnings_html(rows, complete))
    if failed:
        reasons = {}
        for t in failed:
            reasons[trial_error(t)] = reasons.get(trial_error(t), 0) + 1
        parts.append("<h2>Failures</h2><ul>" + "".join(f"<li>{n} x {html.escape(r)}</li>" for r, n in reasons.items())
                     + "</ul>")
    write_page(folder.report_path, folder.name, parts)


def write_page(path, title: str, parts) -> None:
    """An HTML page of ``parts`` (empty ones left out), written atomically."""
    write_text_atomic(path, f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                            f"{STYLE}</head><body>{''.join(p for p in parts if p)}</body></html>")


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value)
