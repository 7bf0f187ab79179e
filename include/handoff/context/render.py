"""The package as text a rep reads in under five minutes (seed 000 part 3)."""

from __future__ import annotations

from typing import Any


def _money(v: Any) -> str:
    return "unknown" if v is None else f"${float(v):,.0f}"


def _or(v: Any, default: str = "unknown") -> str:
    return default if v is None or v == "" or v == [] else str(v)


def _h(v: Any) -> str:
    return str(v).replace("_", " ")


def _counts(d: dict[str, Any]) -> str:
    return ", ".join(f"{_h(k)} {v}" for k, v in d.items())


def _num(v: Any) -> str:
    if isinstance(v, float) and not v.is_integer():
        return f"{v:g}"
    return str(int(v)) if isinstance(v, int | float) else str(v)


def render_text(package: dict[str, Any]) -> str:
    acc = package.get("account") or {}
    usage = package.get("usage") or {}
    score = package.get("score") or {}
    trig = package.get("trigger") or {}
    rt = package.get("routing") or {}
    exp = package.get("expansion") or {}
    fr = package.get("friction") or {}
    owner = acc.get("owner") or {}
    lines: list[str] = []
    add = lines.append

    owner_txt = f"{owner.get('name')} ({owner.get('role')})" if owner.get("name") else "no owner"
    add(
        f"{acc.get('name')} ({acc.get('domain')}) - {rt.get('decision', 'routed')} to "
        f"{owner_txt}, SLA due {_or(rt.get('sla_due_at'), 'none')} UTC"
    )
    add("")
    add("ACCOUNT SNAPSHOT")
    size = f"{acc['employees']:,} employees" if acc.get("employees") is not None else "size unknown"
    add(
        f"  Company: {acc.get('name')} ({acc.get('domain')}), {size} "
        f"({_h(_or(acc.get('size_band')))}), {_or(acc.get('industry'), 'industry unknown')}, "
        f"{_or(acc.get('country'), 'country unknown')}"
    )
    icp = {True: "yes", False: "no"}.get(acc.get("icp_match"), "unknown")
    add(
        f"  Fit: ICP match {icp}, fit tier {_or(acc.get('fit_tier'))}; "
        f"{_or(score.get('tier_label') or score.get('tier'))}; plan {_or(acc.get('plan'))}"
        + (f" ({acc['seat_limit']} seats)" if acc.get("seat_limit") is not None else "")
    )
    if owner.get("name"):
        add(
            f"  Owner: {owner['name']} <{owner.get('email')}> "
            f"({owner.get('role')}, {_or(owner.get('region'))})"
        )
    else:
        add("  Owner: none")
    first = acc.get("first_activation_at")
    add(
        f"  First activation: {first} ({acc.get('days_since_activation')} days ago)"
        if first
        else "  First activation: not yet"
    )
    add("")
    add("PRODUCT USAGE (last 30 days)")
    add(
        f"  Active users: {usage.get('active_users_30d', 0)} of {usage.get('users_total', 0)}"
        + (f" ({_counts(usage['roles'])})" if usage.get("roles") else "")
    )
    if usage.get("departments_active"):
        add(f"  Active departments: {', '.join(usage['departments_active'])}")
    for u in usage.get("top_users") or []:
        add(
            f"    - {u.get('name')}, {_or(u.get('title'), 'no title')} "
            f"({u.get('role')}, {_or(u.get('department'), 'no department')}): "
            f"{u.get('active_days_30d')} active days, last {u.get('last_active_at')}"
        )
    if usage.get("executives_active"):
        execs = ", ".join(f"{e['name']} ({e['title']})" for e in usage["executives_active"])
        add(f"  Executives active: {execs}")
    feats = usage.get("features") or []
    if feats:
        more = usage.get("features_total", len(feats)) - len(feats)
        add(
            "  Features: "
            + ", ".join(f"{_h(f['feature'])} ({f['frequency']})" for f in feats)
            + (f" and {more} more" if more > 0 else "")
        )
    else:
        add("  Features: none used")
    core = usage.get("core_workflows_14d") or {}
    add(
        f"  Core workflows, last 14 days: {core.get('total', 0)}"
        + (f" ({_counts(core['by_action'])})" if core.get("by_action") else "")
    )
    integ = usage.get("integrations") or []
    add(f"  Integrations: {', '.join(i['name'] for i in integ) if integ else 'none'}")
    sess = usage.get("last_session")
    if sess:
        dur = sess.get("duration_minutes")
        add(
            f"  Most recent session: {sess.get('at')} UTC"
            + (f", {dur} min" if dur is not None else "")
            + (f" ({sess['user']})" if sess.get("user") else "")
        )
    else:
        add("  Most recent session: none")
    add(
        f"  Trend: {usage.get('trend', 'unknown')} ({usage.get('events_14d', 0)} events in the "
        f"last 14 days vs {usage.get('events_prev_14d', 0)} in the 14 before)"
    )
    add("")
    add("SCORE AND TRIGGER")
    breakdown = score.get("breakdown") or {}
    add(
        f"  PQA score {_num(score.get('score'))} ({_or(score.get('tier_label') or score.get('tier'))})"
        + (f": {_counts({k: _num(v) for k, v in breakdown.items()})}" if breakdown else "")
    )
    for r in score.get("top_reasons") or []:
        detail = [f"{'+' if (r.get('points') or 0) >= 0 else ''}{_num(r.get('points'))}"]
        if r.get("value") is not None:
            detail.append(f"value {_num(r['value'])}")
        if r.get("at"):
            detail.append(f"at {str(r['at']).replace('T', ' ')[:16]}")
        add(f"    - {r.get('label')} ({', '.join(detail)})")
    add(
        f"  Trigger: {_h(_or(trig.get('id'), 'none'))}"
        + (f" ({trig['class']})" if trig.get("class") else "")
        + (f" at {trig['fired_at']} UTC" if trig.get("fired_at") else "")
    )
    add(
        f"  Routing: {_h(_or(rt.get('segment')))} / {_h(_or(rt.get('motion')))} -> "
        f"{_or(rt.get('owner_role'), 'no rep')} {_or(rt.get('owner_name'), '')}".rstrip()
        + f", SLA due {_or(rt.get('sla_due_at'), 'none')} UTC"
    )
    add("")
    add("EXPANSION ANGLE")
    add(f"  Hypothesis: {_or(exp.get('hypothesis'))} ({_or(exp.get('why'), 'no evidence')})")
    add(f"  Estimated ACV: {_money(exp.get('acv_low'))} - {_money(exp.get('acv_high'))}")
    adj = exp.get("adjacent_teams") or []
    add(f"  Adjacent teams: {', '.join(adj) if adj else 'none identified'}")
    add("")
    add("KNOWN FRICTION")
    topics = fr.get("tickets_by_topic") or {}
    add(
        f"  Support tickets (30 days): {fr.get('open_support_tickets', 0)}"
        + (f" ({_counts(topics)})" if topics else "")
    )
    setups = fr.get("abandoned_setups") or []
    add(f"  Abandoned setups: {', '.join(s['name'] for s in setups) if setups else 'none'}")
    add(f"  Competitor mentions: {fr.get('competitor_mentions', 0)}")
    points = package.get("talking_points") or []
    if points:
        add("")
        add("TALKING POINTS")
        for n, tp in enumerate(points, 1):
            add(f"  {n}. {tp['label']}")
            add(f'     Opening: "{tp["opening"]}"')
            for q in tp.get("discovery") or []:
                add(f'     Ask: "{q}"')
    return "\n".join(lines) + "\n"
