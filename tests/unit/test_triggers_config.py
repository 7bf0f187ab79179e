"""Trigger YAML: the shipped file loads; every kind of mistake is named by key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from handoff.errors import ConfigError
from handoff.triggers import load_triggers
from handoff.triggers.config import DEFAULT_TRIGGERS_PATH

SEED_000 = {
    "usage_limit_approached", "team_expansion", "pricing_page_intent",
    "enterprise_feature_interest", "champion_identified", "trial_day_10",
}  # fmt: skip
SEED_003 = {
    "high": {"enterprise_or_contact_sales", "large_team_at_limit", "volume_pricing_question"},
    "medium": {"pql_hot", "team_growth_week", "pricing_page_repeat", "icp_multi_department"},
    "low": {"pql_warm", "single_power_user_target", "steady_growth"},
}


def test_shipped_triggers() -> None:
    cfg = load_triggers()
    ids = {t.id for t in cfg.triggers}
    assert ids >= SEED_000
    for cls, members in SEED_003.items():
        assert members <= ids
        assert {cfg.by_id(i).class_ for i in members} == {cls}
    assert "pql_threshold_crossed" in ids
    # seed 000's SLAs
    sla = {t.id: t.sla for t in cfg.triggers}
    assert sla["usage_limit_approached"].business_hours == 24
    assert sla["team_expansion"].business_hours == 48
    assert sla["pricing_page_intent"].same_business_day is True
    assert sla["enterprise_feature_interest"].business_hours == 24
    assert sla["champion_identified"].business_hours == 48
    assert cfg.by_id("champion_identified").owner_role == "AE"
    # features read through refs are listed
    assert cfg.features_of(cfg.by_id("icp_multi_department").when) == [
        "departments_active_30d", "employees", "industry",
    ]  # fmt: skip


def _trigger(**over: object) -> dict:
    base = {
        "id": "t1", "label": "T1", "class": "high", "owner_role": "SDR", "channel": "email",
        "priority": 1, "sla": {"business_hours": 24}, "cooldown_days": 7,
        "when": {"feature": "hot_users", "gte": 1},
    }  # fmt: skip
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("doc", "key", "message"),
    [
        ({"triggers": [_trigger(sla={})]}, "triggers[0].sla", "exactly one of"),
        (
            {"triggers": [_trigger(sla={"business_hours": 4, "same_business_day": True})]},
            "triggers[0].sla",
            "exactly one of",
        ),
        ({"triggers": [_trigger(sla={"same_business_day": False})]}, "triggers[0].sla.same_business_day", "True"),
        ({"triggers": [_trigger(**{"class": "urgent"})]}, "triggers[0].class", "'high'"),
        ({"triggers": [_trigger(owner_role="BDR")]}, "triggers[0].owner_role", "'SDR'"),
        ({"triggers": [_trigger(channel="fax")]}, "triggers[0].channel", "'email'"),
        ({"triggers": [_trigger(priority=6)]}, "triggers[0].priority", "less than or equal to 5"),
        ({"triggers": [_trigger(cooldown_days=-1)]}, "triggers[0].cooldown_days", "greater than"),
        ({"triggers": [_trigger(), _trigger()]}, "triggers[1].id", "duplicate trigger id 't1'"),
        ({"triggers": [_trigger(when={"ref": "nope"})]}, "triggers[0].when", "unknown condition ref 'nope'"),
        ({"triggers": [_trigger(when={"feature": "x"})]}, "triggers[0].when", "exactly one operator"),
        ({"triggers": [_trigger(sla_hours=3)]}, "triggers[0].sla_hours", "unknown key"),
        ({"triggers": [_trigger()], "frame": {"paid_plan": ["x"]}}, "frame.paid_plan", "unknown key"),
        ({"triggers": [{k: v for k, v in _trigger().items() if k != "when"}]}, "triggers[0].when", "required key is missing"),
        ({"triggers": []}, "triggers", "at least one trigger"),
    ],
)  # fmt: skip
def test_errors_name_the_key(tmp_path: Path, doc: dict, key: str, message: str) -> None:
    path = tmp_path / "triggers.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as err:
        load_triggers(path)
    assert str(path) in str(err.value)
    assert any(k == key and message in m for k, m in err.value.problems), err.value.problems


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "triggers.yaml"
    text = DEFAULT_TRIGGERS_PATH.read_text().replace("priority: 2", "priority: [2", 1)
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"line \d+, column \d+"):
        load_triggers(path)
