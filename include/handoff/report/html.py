"""Render the feedback report (funnel, lift, calibration, proposal) as one HTML file.

Self-contained: CSS inline, charts as base64 PNGs, no scripts, no external links. Works
with no outcomes yet (it says so) and with outcomes but no calibration (it says why).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from handoff.calibration.calibrate import CalibrationResult
from handoff.outcomes.metrics import DIMENSIONS, OutcomeMetrics
from handoff.report import plots

DIMENSION_TITLES = {
    "tier": "tier",
    "segment": "segment",
    "trigger_id": "trigger",
    "owner_email": "owner",
}


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT


def pct(v: Any, digits: int = 1) -> str:
    return "–" if _missing(v) else f"{float(v) * 100:.{digits}f}%"


def signed_pct(v: Any) -> str:
    return "–" if _missing(v) else f"{float(v) * 100:+.1f} pts"


def signed_rel(v: Any) -> str:
    return "–" if _missing(v) else f"{float(v) * 100:+.1f}%"


def num(v: Any, digits: int = 1) -> str:
    if _missing(v):
        return "–"
    f = float(v)
    return f"{int(f):,}" if f.is_integer() else f"{f:,.{digits}f}"


def money(v: Any) -> str:
    return "–" if _missing(v) else f"${float(v):,.0f}"


def when(v: Any) -> str:
    if _missing(v):
        return "–"
    ts = pd.Timestamp(v)
    return f"{ts:%Y-%m-%d}" if ts == ts.normalize() else f"{ts:%Y-%m-%d %H:%M}"


def auc(est: Any) -> str:
    if est is None or est.value is None:
        return "–"
    if est.low is None:
        return f"{est.value:.3f}"
    return f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}]"


def records(df: pd.DataFrame | None) -> list[dict[str, Any]]:
    return [] if df is None or df.empty else df.to_dict(orient="records")


TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #1f2933; padding: 0 1em; }
h1 { margin-bottom: 0.1em; } h2 { border-bottom: 1px solid #d9e2ec; padding-bottom: 0.2em;
     margin-top: 2em; } .muted { color: #616e7c; font-size: 0.9em; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1em 0; }
.card { border: 1px solid #d9e2ec; border-radius: 6px; padding: 0.6em 0.9em; min-width: 150px; }
.card .v { font-size: 1.4em; font-weight: 600; } .card .k { color: #616e7c; font-size: 0.85em; }
.flag-low, .flag-high { color: #b42318; font-weight: 600; } .flag-ok { color: #2f7d4f; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.88em; }
th, td { border: 1px solid #d9e2ec; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f4f8; } td.l, th.l { text-align: left; }
.empty { background: #fffbea; border: 1px solid #f0d98c; padding: 0.8em 1em; border-radius: 6px; }
img { max-width: 100%; }
pre { background: #f5f7fa; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
</style></head><body>
<h1>{{ title }}</h1>
<div class="muted">Generated {{ generated_at }}{% if model_version %} · model {{ model_version }}{% endif %}
{% if metrics %} · periods by {{ metrics.period }} of handed_off_at · lift horizon {{ metrics.horizon_days }} days{% endif %}</div>

<div class="cards" id="headline">
{% if metrics and not metrics.empty %}
 {% set o = metrics.overall %}
 <div class="card"><div class="k">Handoffs (routed / holdout)</div><div class="v">{{ num(o.handoffs) }}</div>
   <div class="k">{{ num(o.routed) }} / {{ num(o.holdout) }}</div></div>
 <div class="card" id="accept-rate"><div class="k">Accept rate</div><div class="v">{{ pct(o.accept_rate) }}</div>
   <div class="k flag-{{ o.accept_flag or 'none' }}">{{ flag_text(o.accept_flag, metrics.accept_band) }}</div></div>
 <div class="card"><div class="k">PQL → opportunity</div><div class="v">{{ pct(o.opportunity_rate) }}</div></div>
 <div class="card"><div class="k">PQL → closed won</div><div class="v">{{ pct(o.won_rate) }}</div></div>
 <div class="card" id="lift"><div class="k">Lift over holdout ({{ metrics.horizon_days }} d)</div>
   <div class="v">{{ signed_pct(metrics.lift.difference) }}</div>
   <div class="k">{% if metrics.lift.difference is not none %}{{ (metrics.lift.confidence * 100) | round | int }}% CI [{{ signed_pct(metrics.lift.ci_low) }}, {{ signed_pct(metrics.lift.ci_high) }}]{% else %}not enough observed handoffs{% endif %}</div></div>
{% endif %}
{% if calibration %}
 <div class="card" id="auc"><div class="k">Held-out AUC current → proposed</div>
   <div class="v">{{ "%.3f" | format(calibration.current.auc.value) if calibration.current.auc.value is not none else "–" }} → {{ "%.3f" | format(calibration.proposed.auc.value) if calibration.proposed.auc.value is not none else "–" }}</div></div>
{% endif %}
</div>

{% if not metrics or metrics.empty %}
<div class="empty" id="no-outcomes"><strong>No outcomes yet.</strong> handoff_outcomes has no handoffs to
measure. Once handoffs are routed and the outcomes pull has run, this report shows the funnel,
the lift over the holdout and the model's calibration.</div>
{% else %}
{% for note in metrics.notes %}<p class="empty">{{ note }}</p>{% endfor %}

<h2 id="funnel">Funnel</h2>
{{ img(charts.funnel, "funnel", "No routed handoffs yet.") }}
<table><tr>{% for k in funnel_cols %}<th>{{ k[1] }}</th>{% endfor %}</tr>
<tr>{% for k in funnel_cols %}<td>{{ k[2](metrics.overall[k[0]]) }}</td>{% endfor %}</tr></table>
<p class="muted">Rates are over routed handoffs (a holdout account never meets a rep). They are cohort
rates: handoffs of recent periods have had less time to convert. Accept rate = accepted /
dispositioned; healthy band {{ pct(metrics.accept_band[0], 0) }}–{{ pct(metrics.accept_band[1], 0) }} (seed 004).
SLA compliance counts an untouched handoff past its due time as a miss and leaves out those not yet due.</p>

<h2 id="accept">Accept rate by {{ metrics.period }}</h2>
{{ img(charts.accept, "accept trend", "No dispositions yet: reps have not accepted or rejected any handoff.") }}
{{ table(metrics.by_period, "period") }}

<h2 id="tier">Conversion by tier</h2>
{{ img(charts.tier, "conversion by tier", "No routed handoffs by tier.") }}
{{ table(metrics.by_dimension.get("tier"), "tier") }}

<h2 id="touch">Time to touch</h2>
<p>Median {{ num(metrics.overall.ttt_median_h) }} h, p90 {{ num(metrics.overall.ttt_p90_h) }} h over
{{ num(metrics.overall.touched) }} touched handoffs; SLA compliance {{ pct(metrics.overall.sla_compliance) }}
({{ num(metrics.overall.sla_met) }} of {{ num(metrics.overall.sla_evaluated) }}).</p>
{{ img(charts.touch, "conversion by time to touch", "No touched handoffs yet.") }}
<table><tr><th class="l">bucket</th><th>handoffs</th><th>opportunities</th><th>→ opp.</th><th>won</th><th>→ won</th></tr>
{% for r in records(metrics.by_touch) %}<tr><td class="l">{{ r.bucket }}</td><td>{{ num(r.handoffs) }}</td>
<td>{{ num(r.opportunities) }}</td><td>{{ pct(r.opportunity_rate) }}</td><td>{{ num(r.won) }}</td><td>{{ pct(r.won_rate) }}</td></tr>{% endfor %}
</table>

<h2 id="lift-section">Lift over the holdout</h2>
{{ img(charts.lift, "lift", "No handoff has a fully observed horizon yet: lift needs " ~ metrics.horizon_days ~ " days of outcomes.") }}
<table><tr><th class="l">outcome within {{ metrics.horizon_days }} days</th><th>routed</th><th>holdout</th>
<th>difference</th><th>{{ (metrics.lift.confidence * 100) | round | int }}% interval</th><th>relative</th><th>not yet observed</th></tr>
{% for lf in [metrics.lift, metrics.self_serve] %}<tr><td class="l">{{ "converted (won or self-serve)" if lf.outcome == "converted" else "self-serve (counter-metric)" }}</td>
<td>{{ pct(lf.routed_rate) }} ({{ lf.routed_converted }}/{{ lf.routed_n }})</td>
<td>{{ pct(lf.holdout_rate) }} ({{ lf.holdout_converted }}/{{ lf.holdout_n }})</td>
<td>{{ signed_pct(lf.difference) }}</td><td>{% if lf.ci_low is not none %}[{{ signed_pct(lf.ci_low) }}, {{ signed_pct(lf.ci_high) }}]{% else %}–{% endif %}</td>
<td>{{ signed_rel(lf.relative) }}</td><td>{{ lf.unobserved }}</td></tr>{% endfor %}
</table>
<p class="muted">Interval: {{ metrics.lift.method }} for the difference of proportions. Only handoffs whose
horizon is covered by observed_until count. A self-serve rate lower in the routed arm than in the
holdout is the cannibalisation warning: reps intercepting accounts that would have converted alone.</p>

{% for dim in dimensions %}{% if dim != "tier" %}
<h2 id="by-{{ dim }}">By {{ dimension_titles[dim] }}</h2>
{{ table(metrics.by_dimension.get(dim), dim) }}
{% endif %}{% endfor %}
{% endif %}

<h2 id="calibration">Model calibration</h2>
{% if not calibration %}
<div class="empty" id="no-calibration"><strong>Calibration not run.</strong> {{ calibration_message or "No calibration result was given." }}</div>
{% else %}{% set c = calibration %}
<p>Target <strong>{{ c.target }}</strong>{% if c.horizon_days %} within {{ c.horizon_days }} days of the score{% endif %};
{{ c.entity }} rows: {{ num(c.rows) }}. Trained on as_of {{ when(c.split.train_start) }} – {{ when(c.split.train_end) }}
({{ num(c.train_rows) }} rows, rate {{ pct(c.train_rate) }}), tested on {{ when(c.split.test_start) }} – {{ when(c.split.test_end) }}
({{ num(c.test_rows) }} rows, rate {{ pct(c.test_rate) }}). L2-regularised logistic regression (C = {{ c.config.regularization }})
over the model's signals; fitted AUC {{ auc(c.fitted_auc) }}, Brier {{ num(c.brier, 4) }}.</p>
{% for n in c.notes %}<p class="empty">{{ n }}</p>{% endfor %}

<h3 id="compare">Current vs proposed on the held-out period</h3>
<table><tr><th class="l">model</th><th class="l">version</th><th>AUC [{{ (c.config.confidence * 100) | round | int }}% bootstrap CI]</th><th>threshold</th>
<th>flagged</th><th>precision</th><th>recall</th><th>per week</th></tr>
{% for ev in [c.current, c.proposed] %}<tr><td class="l">{{ ev.name }}</td><td class="l">{{ ev.version }}</td><td>{{ auc(ev.auc) }}</td>
<td>{{ num(ev.threshold) }}</td><td>{{ num(ev.flagged) }}</td><td>{{ pct(ev.precision) }}</td><td>{{ pct(ev.recall) }}</td><td>{{ num(ev.per_week) }}</td></tr>{% endfor %}
</table>
<p class="muted">Routing threshold: {{ c.threshold_reason }}. Precision and recall count held-out rows with a score at or above it.</p>

<h3 id="reliability">Reliability</h3>
{{ img(charts.reliability, "reliability curve", "Too few held-out rows for a reliability curve.") }}
<h3 id="deciles">Lift by decile</h3>
{{ img(charts.deciles, "deciles", "No held-out rows.") }}
<table><tr><th>decile</th><th>rows</th><th>converted</th><th>rate</th><th>lift</th></tr>
{% for r in records(c.deciles) %}<tr><td>{{ r.decile }}</td><td>{{ num(r.rows) }}</td><td>{{ num(r.converted) }}</td><td>{{ pct(r.rate) }}</td><td>{{ num(r.lift, 2) }}</td></tr>{% endfor %}</table>
{% if records(c.tiers) %}<h3 id="calibration-tiers">Conversion by tier (all labelled rows)</h3>
<table><tr><th class="l">tier</th><th>rows</th><th>converted</th><th>rate</th><th>lift</th></tr>
{% for r in records(c.tiers) %}<tr><td class="l">{{ r.tier }}</td><td>{{ num(r.rows) }}</td><td>{{ num(r.converted) }}</td><td>{{ pct(r.rate) }}</td><td>{{ num(r.lift, 2) }}</td></tr>{% endfor %}</table>{% endif %}

<h3 id="signals">Per-signal lift and proposed points</h3>
{{ img(charts.signals, "per-signal lift", "No signal has fired on both converted and non-converted rows.") }}
<table><tr><th class="l">signal</th><th>fired</th><th>conv. when fired</th><th>not fired</th><th>conv. when not</th><th>lift</th>
<th>coefficient</th><th>points now</th><th>proposed</th><th class="l">note</th></tr>
{% for r in records(c.signals) %}<tr><td class="l">{{ r.signal }}</td><td>{{ num(r.fired) }}</td><td>{{ pct(r.fired_rate) }} ({{ r.fired_converted }})</td>
<td>{{ num(r.not_fired) }}</td><td>{{ pct(r.not_fired_rate) }} ({{ r.not_fired_converted }})</td><td>{{ num(r.lift, 2) }}</td>
<td>{{ num(r.coef, 3) }}</td><td>{{ num(r.current_points) }}</td><td>{{ num(r.proposed_points) }}</td><td class="l">{{ r.note }}</td></tr>{% endfor %}
</table>
{% if c.excluded %}<p id="excluded"><strong>Not fitted:</strong></p><ul>{% for s, why in c.excluded.items() %}<li>{{ s }}: {{ why }}</li>{% endfor %}</ul>{% endif %}

<h3 id="thresholds">Thresholds</h3>
<table><tr><th class="l">where</th><th>current</th><th>proposed</th><th class="l">routing</th></tr>
{% for t in c.thresholds %}<tr><td class="l">{{ t.where }}</td><td>{{ num(t.current) }}</td><td>{{ num(t.proposed) }}</td><td class="l">{{ "yes" if t.route else "" }}</td></tr>{% endfor %}
</table>

<h3 id="proposal">Proposed model {{ c.model.name }} {{ c.proposed_version }}</h3>
<p>A proposal only: nothing is applied.{% if c.proposed_path %} Written to <code>{{ c.proposed_path }}</code>.{% endif %}
Review it, then copy it into include/config/models/ to deploy.</p>
<pre>{{ c.proposed_yaml }}</pre>
{% endif %}
</body></html>
"""

_TABLE = r"""{% macro table(df, key) %}{% if df is none or df.empty %}<p class="muted">No data.</p>{% else %}
<table><tr><th class="l">{{ key }}</th><th>handoffs</th><th>routed</th><th>accept rate</th><th>→ opp.</th><th>→ won</th>
<th>TTT median h</th><th>TTT p90 h</th><th>SLA</th><th>cycle days</th><th>ACV</th><th>self-serve</th></tr>
{% for r in records(df) %}<tr><td class="l">{{ when(r[key]) if key == "period" else r[key] }}</td><td>{{ num(r.handoffs) }}</td><td>{{ num(r.routed) }}</td>
<td class="flag-{{ r.accept_flag or 'none' }}">{{ pct(r.accept_rate) }}{% if r.accept_flag in ("low", "high") %} ({{ r.accept_flag }}){% endif %}</td>
<td>{{ pct(r.opportunity_rate) }}</td><td>{{ pct(r.won_rate) }}</td><td>{{ num(r.ttt_median_h) }}</td><td>{{ num(r.ttt_p90_h) }}</td>
<td>{{ pct(r.sla_compliance) }}</td><td>{{ num(r.cycle_days_median) }}</td><td>{{ money(r.acv) }}</td><td>{{ pct(r.self_serve_rate) }}</td></tr>{% endfor %}
</table>{% endif %}{% endmacro %}
{% macro img(data, alt, message) %}{% if data %}<img class="chart" alt="{{ alt }}" src="data:image/png;base64,{{ data }}">{% else %}<p class="empty">{{ message }}</p>{% endif %}{% endmacro %}
"""

FUNNEL_COLS = [
    ("routed", "routed", num),
    ("dispositioned", "dispositioned", num),
    ("accept_rate", "accept rate", pct),
    ("opportunity_rate", "→ opportunity", pct),
    ("won_rate", "→ closed won", pct),
    ("sla_compliance", "SLA compliance", pct),
    ("cycle_days_median", "cycle days (median)", num),
    ("acv", "ACV", money),
    ("self_serve_rate", "self-serve", pct),
]


def flag_text(flag: str | None, band: tuple[float, float]) -> str:
    lo, hi = pct(band[0], 0), pct(band[1], 0)
    return {
        "low": f"below the healthy {lo}–{hi}: thresholds may be too low",
        "high": f"above the healthy {lo}–{hi}: reps may be cherry-picking or thresholds too high",
        "ok": f"within the healthy {lo}–{hi}",
    }.get(flag or "", "no dispositions yet")


def _charts(metrics: OutcomeMetrics | None, cal: CalibrationResult | None) -> dict[str, str | None]:
    out: dict[str, str | None] = dict.fromkeys(
        ("funnel", "accept", "tier", "touch", "lift", "reliability", "deciles", "signals")
    )
    if metrics is not None and not metrics.empty:
        out["funnel"] = plots.funnel(metrics.overall)
        out["accept"] = plots.accept_trend(metrics.by_period, metrics.accept_band)
        out["tier"] = plots.rate_bars(
            metrics.by_dimension.get("tier"), "tier", "Conversion by tier"
        )
        if metrics.overall.get("touched"):
            out["touch"] = plots.rate_bars(
                metrics.by_touch, "bucket", "Conversion by time to touch", count_col="handoffs"
            )
        out["lift"] = plots.lift(metrics.lift, metrics.self_serve)
    if cal is not None:
        out["reliability"] = plots.reliability(cal.reliability)
        out["deciles"] = plots.deciles(cal.deciles)
        out["signals"] = plots.signal_lift(cal.signals)
    return out


def render_report(
    metrics: OutcomeMetrics | None,
    calibration: CalibrationResult | None,
    *,
    title: str = "Handoff feedback report",
    calibration_message: str | None = None,
    generated_at: datetime | None = None,
) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals.update(
        pct=pct, signed_pct=signed_pct, signed_rel=signed_rel, num=num, money=money,
        when=when, auc=auc, records=records, flag_text=flag_text,
    )  # fmt: skip
    template = env.from_string(_TABLE + TEMPLATE)
    generated_at = generated_at or datetime.now(UTC).replace(tzinfo=None)
    html = template.render(
        title=title,
        generated_at=f"{generated_at:%Y-%m-%d %H:%M} UTC",
        model_version=None if calibration is None else calibration.model.model_version,
        metrics=metrics,
        calibration=calibration,
        calibration_message=calibration_message,
        charts=_charts(metrics, calibration),
        funnel_cols=FUNNEL_COLS,
        dimensions=DIMENSIONS,
        dimension_titles=DIMENSION_TITLES,
    )
    return html.lstrip()


def write_report(
    path: str | Path,
    metrics: OutcomeMetrics | None,
    calibration: CalibrationResult | None,
    *,
    title: str = "Handoff feedback report",
    calibration_message: str | None = None,
    generated_at: datetime | None = None,
) -> Path:
    """Write the report to `path` (parents created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = render_report(
        metrics, calibration, title=title, calibration_message=calibration_message,
        generated_at=generated_at,
    )  # fmt: skip
    path.write_text(html, encoding="utf-8")
    return path
