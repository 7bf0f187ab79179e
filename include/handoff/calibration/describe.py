"""The headline figures of a calibration run in a few lines, from its JSON form
(CalibrationSummary.as_dict(), also written beside the report): for the CLI and the demo."""

from __future__ import annotations

from typing import Any


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0%}"


def _est(e: dict[str, Any] | None) -> str:
    if not e or e.get("value") is None:
        return "n/a"
    if e.get("low") is None or e.get("high") is None:
        return f"{e['value']:.3f}"
    return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


def _lift(name: str, lift: dict[str, Any]) -> str:
    if lift.get("difference") is None or lift.get("ci_low") is None:
        return (
            f"  {name}: not enough observed handoffs yet "
            f"({lift.get('unobserved', 0)} not yet observed for {lift.get('horizon_days')} days)"
        )
    return (
        f"  {name}: {lift['difference']:+.1%} ({lift['confidence']:.0%} CI "
        f"{lift['ci_low']:+.1%} to {lift['ci_high']:+.1%}); routed {_pct(lift['routed_rate'])} "
        f"of {lift['routed_n']}, holdout {_pct(lift['holdout_rate'])} of {lift['holdout_n']} "
        f"({lift['outcome']} within {lift['horizon_days']} days)"
    )


def describe_calibration(s: dict[str, Any]) -> str:
    lines = [
        f"calibration of {s['model_version']} against '{s['target']}' within "
        f"{s['horizon_days']} days of the score"
    ]
    flag = f" ({s['accept_flag']} against the healthy 60-75%)" if s.get("accept_flag") else ""
    lines.append(f"  handoffs {s['handoffs']:,}; accept rate {_pct(s.get('accept_rate'))}{flag}")
    lines.append(_lift("lift over holdout", s["lift"]))
    lines.append(_lift("self-serve conversion, routed vs holdout", s["self_serve_lift"]))
    if s.get("auc_current") and s.get("auc_proposed"):
        lines.append(
            f"  held-out AUC: current {_est(s['auc_current'])}, proposed "
            f"{s.get('proposed_version')} {_est(s['auc_proposed'])}"
        )
        lines.append(
            f"  held-out precision at the routing threshold: current "
            f"{_pct(s.get('precision_current'))} (score >= {s.get('threshold_current')}), "
            f"proposed {_pct(s.get('precision_proposed'))} "
            f"(score >= {s.get('threshold_proposed')})"
        )
        cur, new = s["auc_current"].get("value"), s["auc_proposed"].get("value")
        if cur is not None and new is not None:
            verdict = (
                "the proposal ranks held-out outcomes better: review it"
                if new > cur
                else "the proposal does not beat the current model on held-out outcomes: "
                "keep the current model"
            )
            lines.append(f"  verdict: {verdict}")
    if s.get("calibration_skipped"):
        lines.append(f"  no proposal: {s['calibration_skipped']}")
    lines.append(f"  report   {s['report_path']}")
    if s.get("proposed_model_path"):
        lines.append(f"  proposal {s['proposed_model_path']} (for review; never applied by itself)")
    return "\n".join(lines)
