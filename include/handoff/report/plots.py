"""The report's charts: matplotlib (Agg, no display) rendered to base64 PNG strings.

Each function returns None when there is nothing to draw, so the report can say so instead.
"""

from __future__ import annotations

import base64
import io
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from handoff.outcomes.metrics import Lift, wilson_interval

BLUE, GREY, ORANGE, GREEN = "#2f6db5", "#9aa5b1", "#d9822b", "#3c9d5d"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _ok(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def funnel(overall: dict[str, object]) -> str | None:
    """Routed handoffs -> dispositioned -> accepted -> opportunity -> won."""
    stages = [
        ("routed", "Routed"),
        ("dispositioned", "Dispositioned"),
        ("accepted", "Accepted"),
        ("opportunities", "Opportunity"),
        ("won", "Closed won"),
    ]
    values = [int(overall.get(k) or 0) for k, _ in stages]  # type: ignore[call-overload]
    if values[0] == 0:
        return None
    fig, ax = plt.subplots(figsize=(7, 3))
    labels = [label for _, label in stages]
    ax.barh(labels[::-1], values[::-1], color=BLUE)
    for y, v in enumerate(values[::-1]):
        ax.text(v, y, f" {v} ({v / values[0]:.0%})", va="center", fontsize=9)
    ax.set_xlim(0, values[0] * 1.25)
    ax.set_xlabel("routed handoffs")
    ax.set_title("Funnel")
    return _png(fig)


def rate_bars(table: pd.DataFrame, key: str, title: str, count_col: str = "routed") -> str | None:
    """Opportunity and closed-won rate per group (tier, bucket, ...), counts on the bars."""
    if table is None or table.empty or key not in table.columns:
        return None
    frame = table[table[count_col].fillna(0) > 0]
    if frame.empty:
        return None
    x = np.arange(len(frame))
    opp = frame["opportunity_rate"].astype(float).fillna(0).to_numpy()
    won = frame["won_rate"].astype(float).fillna(0).to_numpy()
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(x - 0.2, opp, 0.4, label="-> opportunity", color=GREY)
    ax.bar(x + 0.2, won, 0.4, label="-> closed won", color=BLUE)
    for i, n in enumerate(frame[count_col]):
        ax.text(x[i], max(opp[i], won[i]), f"n={int(n)}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [str(v) for v in frame[key]], rotation=0 if len(frame) < 6 else 30)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, max(0.05, float(max(opp.max(), won.max())) * 1.3))
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _png(fig)


def lift(conv: Lift, self_serve: Lift) -> str | None:
    """Conversion of each arm with its Wilson interval, for converted and self-serve."""
    if conv.routed_n == 0 and conv.holdout_n == 0:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, lf, title in (
        (axes[0], conv, "Converted (won or self-serve)"),
        (axes[1], self_serve, "Self-serve only (counter-metric)"),
    ):
        top = 0.1
        arms = (
            (lf.routed_n, lf.routed_converted, BLUE),
            (lf.holdout_n, lf.holdout_converted, GREY),
        )
        for i, (n, k, color) in enumerate(arms):
            if n == 0:
                ax.text(i, 0, "no data", ha="center", fontsize=8)
                continue
            p = k / n
            lo, hi = wilson_interval(k, n, lf.confidence)
            ax.bar(i, p, color=color, width=0.6)
            ax.errorbar(i, p, yerr=[[p - lo], [hi - p]], color="black", capsize=4)
            ax.text(i, hi, f"{p:.1%}\nn={n}", ha="center", va="bottom", fontsize=8)
            top = max(top, hi)
        ax.set_xticks([0, 1], ["routed", "holdout"])
        sub = title
        if lf.difference is not None:
            sub += f"\ndiff {lf.difference:+.1%} [{lf.ci_low:+.1%}, {lf.ci_high:+.1%}]"
        ax.set_title(sub, fontsize=9)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylim(0, min(1.0, top * 1.35) if top < 0.74 else 1.35)
    return _png(fig)


def accept_trend(by_period: pd.DataFrame, band: tuple[float, float]) -> str | None:
    """Accept rate per period against the healthy band."""
    if by_period is None or by_period.empty:
        return None
    frame = by_period[by_period["dispositioned"] > 0]
    if frame.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.axhspan(band[0], band[1], color=GREEN, alpha=0.15, label="healthy band")
    x = pd.to_datetime(frame["period"])
    ax.plot(x, frame["accept_rate"].astype(float), marker="o", color=BLUE, label="accept rate")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("Accept rate (accepted / dispositioned)")
    fig.autofmt_xdate()
    return _png(fig)


def reliability(curve: pd.DataFrame) -> str | None:
    if curve is None or curve.empty:
        return None
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot([0, 1], [0, 1], ls="--", color=GREY, label="perfect")
    ax.plot(curve["predicted"], curve["observed"], marker="o", color=BLUE, label="fitted model")
    for _, r in curve.iterrows():
        ax.annotate(str(int(r["rows"])), (r["predicted"], r["observed"]), fontsize=7,
                    textcoords="offset points", xytext=(3, -9))  # fmt: skip
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Reliability (held-out)")
    return _png(fig)


def signal_lift(signals: pd.DataFrame) -> str | None:
    """Conversion when each signal fired vs not, as a ratio (lift), with the fire count."""
    if signals is None or signals.empty:
        return None
    frame = signals[signals["lift"].notna()].sort_values("lift")
    if frame.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.28 * len(frame) + 1)))
    colors = [BLUE if v >= 1 else ORANGE for v in frame["lift"]]
    ax.barh(frame["signal"], frame["lift"].astype(float), color=colors)
    ax.axvline(1.0, color="black", lw=0.8)
    for y, (v, n) in enumerate(zip(frame["lift"], frame["fired"], strict=True)):
        ax.text(float(v), y, f" {float(v):.2f}x (n={int(n)})", va="center", fontsize=7)
    ax.set_xlabel("conversion when fired / when not fired")
    ax.set_title("Per-signal lift")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlim(0, float(frame["lift"].max()) * 1.35)
    return _png(fig)


def deciles(table: pd.DataFrame) -> str | None:
    if table is None or table.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.bar(table["decile"].astype(str), table["rate"].astype(float), color=BLUE)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("decile of predicted probability (1 = top)")
    ax.set_title("Conversion by decile (held-out)")
    return _png(fig)
