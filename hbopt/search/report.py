"""The study report: one self-contained HTML page that opens offline (plotly charts, plotly.js
inlined once) with the trials that fell back from the turbo engine to the stock one, the
optimisation history, parameter importance, the best region, the top trials, the sections the
caller adds (the validation's), the warnings of the trials' backtests and the failures."""
from __future__ import annotations

import html
import math
import warnings

import numpy as np
import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState
from plotly.offline import get_plotlyjs

from hbopt.files import write_text_atomic
from hbopt.search.space import shown

STYLE = ("<style>body{font-family:sans-serif;max-width:72em;margin:2em auto}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}figure{margin:1em 0}"
         "figcaption{font-weight:bold}.pass{color:#2e7d32}.fail{color:#c62828}</style>")
HEIGHT = 340  # pixels, unless a chart sets its own


def chart(fig: go.Figure | None, name: str, caption: str) -> str:
    """``fig`` as a captioned figure of the page, its div ``chart-NAME`` (nothing for no figure);
    the page holds plotly.js (:func:`write_page`), so the chart draws offline."""
    if fig is None:
        return ""
    fig.update_layout(template="plotly_white", hovermode="closest", height=fig.layout.height or HEIGHT,
                      margin={"l": 70, "r": 20, "t": 30, "b": 50})
    div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{name}",
                      config={"displaylogo": False, "responsive": True})
    return f"<figure><figcaption>{html.escape(caption)}</figcaption>{div}</figure>"


def times(timestamps) -> np.ndarray:
    """Epoch seconds as UTC datetimes, for a time axis."""
    return (np.asarray(timestamps, dtype="float64") * 1000).astype("int64").astype("datetime64[ms]")


def history_figure(trials, maximize: bool, metric: str) -> go.Figure:
    """Each trial's objective and the running best."""
    numbers = [t.number for t in trials]
    values = np.array([t.values[0] for t in trials])
    best = np.maximum.accumulate(values) if maximize else np.minimum.accumulate(values)
    fig = go.Figure([go.Scatter(x=numbers, y=values, mode="markers", name="trial", opacity=0.6),
                     go.Scatter(x=numbers, y=best, mode="lines", name="best so far", line={"shape": "hv"})])
    fig.update_layout(xaxis_title="trial", yaxis_title=metric)
    return fig


def importance_chart(study: optuna.Study) -> tuple[str, list[str]]:
    """Parameter importance (fANOVA) as a chart of bars (or why there is none), and the parameters
    by importance."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna warns when few trials make importances degenerate
            importance = optuna.importance.get_param_importances(study)
    except Exception as exc:  # too few trials, a single distinct value, ...
        return f"<p>Parameter importance not available: {html.escape(str(exc))}</p>", []
    names = list(importance)
    fig = go.Figure(go.Bar(x=list(importance.values())[::-1], y=names[::-1], orientation="h"))
    fig.update_layout(xaxis_title="importance (share of the objective's variance)",
                      height=max(200, 60 + 26 * len(names)))
    return chart(fig, "importance", "Parameter importance (fANOVA)"), names


def region_figure(trials, x_name: str, y_name: str, metric: str, space) -> go.Figure | None:
    """The two most important parameters, each trial coloured by its objective."""
    points = [t for t in trials if all(isinstance(t.params.get(n), (int, float)) for n in (x_name, y_name))]
    if len(points) < 2:
        return None
    fig = go.Figure(go.Scatter(
        x=[t.params[x_name] for t in points], y=[t.params[y_name] for t in points], mode="markers",
        marker={"color": [t.values[0] for t in points], "colorscale": "Viridis", "size": 8,
                "colorbar": {"title": {"text": metric}}},
        text=[f"#{t.number}: {shown(space, t.params)}" for t in points],
        hovertemplate="%{text}<br>" + html.escape(metric) + " %{marker.color:.4g}<extra></extra>"))
    fig.update_layout(xaxis_title=x_name, yaxis_title=y_name)
    return fig


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
        parts.append(chart(history_figure(complete, maximize, objective.metric), "history", "Optimisation history")
                     if complete else "<p>No completed trials yet.</p>")
        figure, names = importance_chart(study) if len(complete) > 1 else ("", [])
        parts.append(figure)
        numeric = [n for n in names if all(isinstance(t.params.get(n), (int, float)) for t in complete if n in t.params)]
        if len(numeric) >= 2:
            x, y = numeric[:2]
            parts.append(chart(region_figure(complete, x, y, objective.metric, spec.space), "region",
                               f"Best region: {x} against {y}, each trial coloured by {objective.metric}"))
    rows = ranked(study)[:20]
    columns = ["#", "values", "params", "PnL", "max DD (of capital)", "Sharpe (annual)", "fills", "Hummingbot net PnL",
               "warnings"]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns)
    body = ""
    for t in rows:
        m = (t.user_attrs.get("metrics") or [{}])[0]
        a = m.get("account") or {}
        cells = [t.number, ", ".join(f"{v:.5g}" for v in t.values), shown(spec.space, t.params),
                 _fmt(a.get("pnl_quote")), _percent(a.get("max_drawdown_pct")), _fmt(a.get("sharpe")), a.get("fills"),
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
    """An HTML page of ``parts`` (empty ones left out) with plotly.js inlined once, so its charts
    (:func:`chart`) draw without a network; written atomically."""
    write_text_atomic(path, f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                            f"{STYLE}<script>{get_plotlyjs()}</script></head>"
                            f"<body>{''.join(p for p in parts if p)}</body></html>")


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def _percent(value) -> str:
    return f"{value:.1%}" if isinstance(value, float) and math.isfinite(value) else str(value)
