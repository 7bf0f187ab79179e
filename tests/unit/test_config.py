"""Config validation: every bad file gets an error naming the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from handoff.config import load_model, load_source
from handoff.config.loader import DEFAULT_CONFIG_DIR
from handoff.errors import ConfigError
from handoff.features import ACCOUNT_FEATURES, USER_FEATURES
from handoff.scoring.engine import check_features

BASE = yaml.safe_load((DEFAULT_CONFIG_DIR / "models" / "pql_default.yaml").read_text())


def write(tmp_path: Path, data: object, name: str = "model.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def mutated(**changes: object) -> dict:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    for dotted, value in changes.items():
        target = data
        keys = dotted.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        last = keys[-1]
        if value is ...:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value
    return data


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_model(path)
    return info.value


def test_shipped_models_and_source_load() -> None:
    assert load_model("pql_default").model_version == "pql_default@2026.11.1"
    assert load_model("pql_fit_value_intent").pql.statuses[0].min_score == 60
    assert "gmail.com" in load_source().freemail_domains


def test_shipped_models_only_use_known_features() -> None:
    src = load_source()
    account_cols = set(ACCOUNT_FEATURES) | set(src.accounts.firmographics)
    for name in ("pql_default", "pql_fit_value_intent"):
        assert check_features(load_model(name), set(USER_FEATURES), account_cols, name) == (
            [],
            set(),
        )


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "name: x\nsignals: [\n  - {id: a\n"))
    assert str(tmp_path / "model.yaml") in str(err)
    assert "line" in err.problems[0][0]
    assert "not valid YAML" in err.problems[0][1]


def test_missing_file(tmp_path: Path) -> None:
    err = error_of(tmp_path / "nope.yaml")
    assert "cannot read file" in str(err) and "nope.yaml" in str(err)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, mutated(signals__2__pointz=3)))
    assert ("signals[2].pointz", "unknown key") in err.problems


def test_wrong_type_is_named(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, mutated(signals__0__points="lots")))
    assert err.problems[0][0] == "signals[0].points"
    assert "number" in err.problems[0][1]


def test_missing_required_key(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, mutated(signals__1__label=...)))
    assert ("signals[1].label", "required key is missing") in err.problems


def test_unknown_category_and_duplicate_id(tmp_path: Path) -> None:
    data = mutated(signals__0__category="vibes", signals__1__id="premium_feature_used")
    err = error_of(write(tmp_path, data))
    keys = [k for k, _ in err.problems]
    assert "signals[0].category" in keys
    assert "signals[1].id" in keys
    assert any("vibes" in m for _, m in err.problems)


def test_condition_needs_exactly_one_operator(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, mutated(signals__0__when={"feature": "x", "gt": 1, "lt": 3})))
    assert err.problems[0][0].startswith("signals[0].when")
    assert "exactly one operator" in err.problems[0][1]


def test_decay_needs_evidence_time(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, mutated(signals__4__decay={"half_life_days": 7})))
    assert err.problems[0][0] == "signals[4]"
    assert "evidence.at" in err.problems[0][1]


def test_decay_needs_one_kind(tmp_path: Path) -> None:
    bad = {"half_life_days": 7, "lifespan_days": 3}
    err = error_of(write(tmp_path, mutated(signals__0__decay=bad)))
    assert "exactly one of half_life_days or lifespan_days" in err.problems[0][1]


def test_statuses_need_order_and_catch_all(tmp_path: Path) -> None:
    statuses = BASE["pql"]["statuses"]
    err = error_of(write(tmp_path, mutated(pql__statuses=[statuses[1], statuses[0], statuses[3]])))
    assert any(k == "pql.statuses" and "highest first" in m for k, m in err.problems)
    err = error_of(write(tmp_path, mutated(pql__statuses=statuses[:3])))
    assert any(k == "pql.statuses" and "catch-all" in m for k, m in err.problems)


def test_tiers_need_catch_all(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, mutated(pqa__tiers=BASE["pqa"]["tiers"][:3])))
    assert any(k == "pqa.tiers" and "catch-all" in m for k, m in err.problems)


def test_unknown_condition_ref(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, mutated(signals__0__when={"ref": "nope"})))
    assert any("unknown condition ref 'nope'" in m for _, m in err.problems)


def test_unknown_feature_is_named_at_scoring_time() -> None:
    model = load_model("pql_default")
    with pytest.raises(ConfigError) as info:
        check_features(model, set(USER_FEATURES) - {"dau_mau"}, set(ACCOUNT_FEATURES) | {
            "employees", "industry"}, "pql_default.yaml")  # fmt: skip
    keys = " ".join(k for k, _ in info.value.problems)
    assert "(dau_mau_30)" in keys and "(dau_mau_50)" in keys
    assert "dau_mau" in info.value.problems[0][1]


def test_missing_firmographic_column_skips_signal() -> None:
    model = load_model("pql_default")
    skipped, nulls = check_features(
        model, set(USER_FEATURES), set(ACCOUNT_FEATURES) | {"employees"}, "m"
    )
    assert skipped == ["target_industry", "icp_match"]
    assert nulls == {"industry"}


def test_source_rejects_unknown_and_missing_families(tmp_path: Path) -> None:
    data = yaml.safe_load((DEFAULT_CONFIG_DIR / "source.yaml").read_text())
    data["event_families"]["telepathy"] = ["mind_read"]
    del data["event_families"]["export"]
    path = write(tmp_path, data, "source.yaml")
    with pytest.raises(ConfigError) as info:
        load_source(path)
    msgs = dict(info.value.problems)
    assert msgs["event_families.telepathy"] == "unknown family"
    assert "export" in msgs["event_families"]
    assert "source.yaml" in str(info.value)


def test_source_rejects_event_in_two_families(tmp_path: Path) -> None:
    data = yaml.safe_load((DEFAULT_CONFIG_DIR / "source.yaml").read_text())
    data["event_families"]["export"] = ["data_exported", "report_run"]
    with pytest.raises(ConfigError) as info:
        load_source(write(tmp_path, data, "source.yaml"))
    assert "already in family 'core_action'" in str(info.value)


def test_source_rejects_unsafe_identifiers(tmp_path: Path) -> None:
    data = yaml.safe_load((DEFAULT_CONFIG_DIR / "source.yaml").read_text())
    data["users"]["table"] = "users; DROP TABLE users"
    with pytest.raises(ConfigError) as info:
        load_source(write(tmp_path, data, "source.yaml"))
    assert info.value.problems[0][0] == "users.table"
