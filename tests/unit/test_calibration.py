"""Calibration: recovery of known weights, time-ordered split, leakage, late labels,
thresholds for precision and capacity, the proposed YAML, and the warehouse run."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from handoff.calibration import (
    CalibrationConfig,
    CalibrationError,
    calibrate_table,
    run_calibration,
)
from handoff.calibration.config import Capacity, ThresholdPolicy, load_calibration_config
from handoff.calibration.dataset import build_dataset, outcome_labels
from handoff.calibration.design import table_design
from handoff.calibration.fit import auc, fit_logistic, time_split
from handoff.calibration.propose import bump_version
from handoff.calibration.thresholds import weekly_volume
from handoff.config.loader import load_model
from handoff.config.model import ScoringModel
from handoff.outcomes.metrics import MissingColumnsError, MissingTableError, prepare_outcomes
from handoff.outcomes.schema import HANDOFF_OUTCOME_COLUMNS, HANDOFF_OUTCOMES_TABLE
from handoff.scoring.engine import score_frames
from handoff.warehouse import Warehouse


def _sig(sid: str, feature: str, points: float, category: str = "usage", **extra: object) -> dict:
    return {
        "id": sid, "level": "account", "category": category, "label": sid.upper(),
        "points": points, "when": {"feature": feature, "gte": 1}, **extra,
    }  # fmt: skip


TABLE_MODEL = ScoringModel.model_validate(
    {
        "name": "synthetic",
        "version": "1.0.3",
        "categories": ["usage", "intent", "negative"],
        "signals": [
            _sig("sig_a", "x_a", 10, "intent"),
            _sig("sig_b", "x_b", 10),
            _sig("sig_c", "x_c", 10),
            _sig("sig_d", "x_d", -10, "negative"),
            _sig("sig_e", "x_e", 10),
        ],
        "pql": {"statuses": [{"name": "hot", "label": "Hot", "min_score": 30},
                             {"name": "no", "label": "No"}]},
        "pqa": {"tiers": [{"name": "t1", "label": "T1", "when": {"feature": "pqa_score", "gte": 30}},
                          {"name": "t2", "label": "T2", "when": {"feature": "pqa_score", "gte": 15}},
                          {"name": "t3", "label": "T3"}]},
    }
)  # fmt: skip
TRUE_WEIGHTS = {"x_a": 2.0, "x_b": 1.0, "x_c": 0.5, "x_d": -1.0, "x_e": 0.0}
TRUE_INTERCEPT = -2.0


def synthetic_table(n: int = 6000, seed: int = 1, weeks: int = 26) -> pd.DataFrame:
    """Features x_a..x_e (0-3), a weekly as_of, and `won` drawn from a known logistic model
    over the indicators x >= 1."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({c: rng.binomial(3, 0.2, n) for c in TRUE_WEIGHTS})
    df["as_of"] = pd.Timestamp("2026-01-05") + pd.to_timedelta(
        rng.integers(0, weeks, n) * 7, unit="D"
    )
    logit = TRUE_INTERCEPT + sum(w * (df[c] >= 1) for c, w in TRUE_WEIGHTS.items())
    df["won"] = rng.binomial(1, 1 / (1 + np.exp(-logit)))
    return df


FAST = CalibrationConfig(bootstrap=100)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_table()


@pytest.fixture(scope="module")
def table_result(table: pd.DataFrame):
    return calibrate_table(table, TABLE_MODEL, "won", "as_of", config=FAST)


# -- recovery ------------------------------------------------------------------------------


def test_fit_recovers_sign_ranking_and_ratio(table_result) -> None:
    coef = table_result.fit.coef
    # ranking and sign of the true weights 2 > 1 > 0.5 > 0 > -1
    assert sorted(coef, key=coef.get, reverse=True) == ["sig_a", "sig_b", "sig_c", "sig_e", "sig_d"]
    assert coef["sig_a"] > 0 and coef["sig_d"] < 0
    assert abs(coef["sig_e"]) < 0.15
    # ratios within 20% of the truth; the intercept near -2
    assert coef["sig_a"] / coef["sig_b"] == pytest.approx(2.0, rel=0.2)
    assert coef["sig_d"] / coef["sig_b"] == pytest.approx(-1.0, rel=0.2)
    assert table_result.fit.intercept == pytest.approx(TRUE_INTERCEPT, abs=0.25)


def test_proposed_points_follow_the_weights(table_result) -> None:
    pts = {p.signal: p.proposed for p in table_result.points}
    # scaled to the model's 50 absolute points, rounded to 5: 2 : 1 : 0.5 : -1 : 0
    assert pts == {"sig_a": 20, "sig_b": 10, "sig_c": 5, "sig_d": -10, "sig_e": 0}
    assert all(p % 5 == 0 for p in pts.values())


def test_held_out_auc_proposed_beats_current_and_is_near_the_truth(table_result, table) -> None:
    cmp = table_result.comparison().set_index("model")
    test = table[table["as_of"] >= table_result.split.test_start]
    true_logit = TRUE_INTERCEPT + sum(w * (test[c] >= 1) for c, w in TRUE_WEIGHTS.items())
    oracle = auc(test["won"].to_numpy(), true_logit.to_numpy())
    assert cmp.loc["proposed", "auc"] > cmp.loc["current", "auc"] + 0.03
    assert cmp.loc["proposed", "auc"] == pytest.approx(oracle, abs=0.02)
    assert (
        cmp.loc["proposed", "auc_low"]
        < cmp.loc["proposed", "auc"]
        < cmp.loc["proposed", "auc_high"]
    )
    assert table_result.brier is not None and table_result.brier < 0.2
    rel = table_result.reliability
    assert (rel["predicted"] - rel["observed"]).abs().max() < 0.1
    assert table_result.deciles["rate"].iloc[0] > table_result.deciles["rate"].iloc[-1]


def test_per_signal_lift_counts(table_result, table) -> None:
    row = table_result.signals.set_index("signal").loc["sig_a"]
    fired = table["x_a"] >= 1
    assert row["fired"] == int(fired.sum()) and row["not_fired"] == int((~fired).sum())
    assert row["fired_rate"] == pytest.approx(table.loc[fired, "won"].mean())
    assert row["lift"] == pytest.approx(
        table.loc[fired, "won"].mean() / table.loc[~fired, "won"].mean()
    )


# -- time-ordered split --------------------------------------------------------------------


def test_time_split_trains_only_on_earlier_rows() -> None:
    times = pd.Series(pd.to_datetime(["2026-01-01"] * 5 + ["2026-01-08"] * 3 + ["2026-01-15"] * 2))
    sp = time_split(times, test_fraction=0.3)
    assert sp.test.tolist() == [False] * 5 + [True] * 5  # 01-08 onwards is >= 30%
    assert times[sp.train].max() < times[sp.test].min()
    sp = time_split(times, test_fraction=0.2, embargo_days=7)
    assert sp.test_start == pd.Timestamp("2026-01-15")
    assert sp.train.sum() == 5 and sp.embargoed == 3  # 01-08 is within 7 days of the test
    with pytest.raises(CalibrationError, match="two distinct"):
        time_split(pd.Series(pd.to_datetime(["2026-01-01"] * 4)))


def test_fit_never_sees_the_test_period(table: pd.DataFrame, table_result) -> None:
    assert table_result.split.train_end < table_result.split.test_start
    flipped = table.copy()
    later = flipped["as_of"] >= table_result.split.test_start
    flipped.loc[later, "won"] = 1 - flipped.loc[later, "won"]
    flipped.loc[later, "x_a"] = 0
    again = calibrate_table(flipped, TABLE_MODEL, "won", "as_of", config=FAST)
    assert again.split.test_start == table_result.split.test_start
    assert again.fit.coef == pytest.approx(table_result.fit.coef)


# -- leakage -------------------------------------------------------------------------------


def test_feature_from_after_as_of_is_excluded(table: pd.DataFrame) -> None:
    leaky = table.copy()
    # a demo booked after the score, only for the rows that converted: a perfect predictor
    leaky["demo_booked_at"] = (leaky["as_of"] + pd.Timedelta(days=3)).where(leaky["won"] == 1)
    model = ScoringModel.model_validate(
        {
            **TABLE_MODEL.model_dump(by_alias=True, exclude_none=True),
            "signals": [
                *TABLE_MODEL.model_dump(by_alias=True, exclude_none=True)["signals"],
                {"id": "demo_booked", "level": "account", "category": "intent", "label": "Demo",
                 "points": 30, "when": {"feature": "demo_booked_at", "is_null": False}},
                {"id": "won_flag", "level": "account", "category": "intent", "label": "Won",
                 "points": 5, "when": {"feature": "won", "eq": 1}},
            ],
        }
    )  # fmt: skip
    res = calibrate_table(leaky, model, "won", "as_of", config=FAST)
    assert "demo_booked" in res.excluded and "after the row's as_of" in res.excluded["demo_booked"]
    assert "won_flag" in res.excluded and "outcome column" in res.excluded["won_flag"]
    assert "demo_booked" not in res.fit.coef and "won_flag" not in res.fit.coef
    # the leak would give an AUC near 1; without it the fit is the honest one
    assert res.proposed.auc.value < 0.9
    pts = {p.signal: p for p in res.points}
    assert pts["demo_booked"].proposed == 30 and pts["demo_booked"].note.startswith("kept:")
    # the same column before as_of (a demo booked earlier) is a legitimate feature
    early = leaky.assign(demo_booked_at=leaky["as_of"] - pd.Timedelta(days=3))
    assert "demo_booked" not in table_design(early, model, "won", "as_of").excluded


def test_missing_feature_and_outcome_columns_are_named(table: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnsError, match=r"signal sig_c.*x_c"):
        calibrate_table(table.drop(columns=["x_c"]), TABLE_MODEL, "won", "as_of")
    with pytest.raises(MissingColumnsError, match="converted"):
        calibrate_table(table, TABLE_MODEL, "converted", "as_of")


# -- thresholds ----------------------------------------------------------------------------


def _train_scores(table: pd.DataFrame, result) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    design = table_design(table, TABLE_MODEL, "won", "as_of")
    train = design.subset(result.split.train)
    pts = {p.signal: p.proposed for p in result.points}
    return train.score(np.array([pts[s.id] for s in train.signals])), train.y, train.time


def test_threshold_for_target_precision(table: pd.DataFrame) -> None:
    cfg = FAST.model_copy(update={"thresholds": ThresholdPolicy(target_precision=0.6)})
    res = calibrate_table(table, TABLE_MODEL, "won", "as_of", config=cfg)
    route = next(t for t in res.thresholds if t.route)
    assert route.name == "t2" and route.current == 15
    score, y, _ = _train_scores(table, res)
    above = score >= route.proposed
    assert y[above].mean() >= 0.6 and above.sum() >= 10
    lower = np.unique(score[score < route.proposed])
    assert len(lower) and y[score >= lower.max()].mean() < 0.6  # it is the lowest that does
    # tier order kept: t1's threshold is not below the routing one
    assert next(t for t in res.thresholds if t.name == "t1").proposed >= route.proposed
    assert res.proposed.precision is not None and "precision" in res.threshold_reason


def test_threshold_for_rep_capacity(table: pd.DataFrame) -> None:
    cap = Capacity(reps=2, handoffs_per_rep_per_week=40)
    cfg = FAST.model_copy(update={"thresholds": ThresholdPolicy(capacity=cap)})
    res = calibrate_table(table, TABLE_MODEL, "won", "as_of", config=cfg)
    route = next(t for t in res.thresholds if t.route)
    score, _, times = _train_scores(table, res)
    assert weekly_volume(score, times, route.proposed) <= 80
    lower = np.unique(score[score < route.proposed])
    assert weekly_volume(score, times, lower.max()) > 80
    assert res.proposed.per_week < res.current.per_week


def test_pql_status_threshold_for_user_entity(table: pd.DataFrame) -> None:
    cfg = FAST.model_copy(update={"thresholds": ThresholdPolicy(target_precision=0.6)})
    res = calibrate_table(table, TABLE_MODEL, "won", "as_of", entity="user", config=cfg)
    assert [t.where for t in res.thresholds] == ["pql.statuses[0] (hot).min_score"]
    # account-level signals do not count in a PQL unless the model inherits their category
    assert res.rows == len(table) and res.signals.empty


# -- the proposal --------------------------------------------------------------------------


def test_proposal_yaml_loads_validates_and_scores(table_result, tmp_path: Path) -> None:
    path = table_result.write_proposal(tmp_path / "synthetic.proposed.yaml")
    text = path.read_text()
    assert text.startswith("# PROPOSAL: synthetic 1.0.4")
    assert "NOT applied automatically" in text and "held-out AUC" in text
    model = load_model(path)
    assert model.version == "1.0.4" and model.model_version == "synthetic@1.0.4"
    assert {s.id: s.points for s in model.signals}["sig_a"] == 20
    accounts = pd.DataFrame({"account_domain": ["a.com", "b.com"], "x_a": [1, 0], "x_b": [1, 0],
                             "x_c": [0, 0], "x_d": [0, 1], "x_e": [0, 0]})  # fmt: skip
    users = pd.DataFrame(columns=["user_id", "account_domain"])
    scored = score_frames(model, users, accounts, datetime(2026, 7, 1)).accounts
    assert scored["score"].tolist() == [30.0, -10.0]
    assert scored["status"].tolist() == ["t1", "t3"]


def test_bump_version() -> None:
    assert bump_version("2026.11.1") == "2026.11.2"
    assert bump_version("v9") == "v10"
    assert bump_version("beta") == "beta.1"


def test_too_little_data_is_a_clear_error(table: pd.DataFrame) -> None:
    one_class = table.assign(won=0)
    with pytest.raises(CalibrationError, match="both converted and non-converted"):
        calibrate_table(one_class, TABLE_MODEL, "won", "as_of", config=FAST)


def test_calibration_config_file_loads() -> None:
    cfg = load_calibration_config()
    assert cfg.target in ("accepted", "opportunity", "won", "self_serve", "converted")
    assert cfg.population() == (["routed", "holdout"] if cfg.target == "self_serve" else ["routed"])


# -- labels: after as_of, within the horizon, late labels left out -----------------------


def test_outcome_labels_horizon_and_censoring() -> None:
    as_of, seen = datetime(2026, 1, 1), datetime(2026, 3, 1)

    def row(dom: str, decision: str = "routed", **kw: object) -> dict:
        r: dict[str, object] = dict.fromkeys(HANDOFF_OUTCOME_COLUMNS)
        r.update(as_of=as_of, account_domain=dom, decision=decision, handed_off_at=as_of,
                 observed_until=seen, model_version="m@1", tier="tier_1")  # fmt: skip
        r.update(kw)
        return r

    frame = prepare_outcomes(pd.DataFrame([
        row("won_in.com", closed_at=datetime(2026, 1, 10), won=True),
        row("won_before.com", closed_at=datetime(2025, 12, 20), won=True),
        row("won_late.com", closed_at=datetime(2026, 2, 15), won=True),
        row("lost.com", closed_at=datetime(2026, 1, 10), won=False),
        row("unseen_pos.com", closed_at=datetime(2026, 1, 10), won=True,
            observed_until=datetime(2026, 1, 20)),
        row("unseen_neg.com", observed_until=datetime(2026, 1, 20)),
        row("holdout.com", decision="holdout", closed_at=datetime(2026, 1, 10), won=True),
        row("accepted.com", disposition="accepted", disposition_at=datetime(2026, 1, 2)),
    ]))  # fmt: skip
    labels, population, unobserved = outcome_labels(frame, "won", 30, ["routed"])
    got = dict(zip(labels["account_domain"], labels["label"], strict=True))
    assert got == {"won_in.com": 1, "won_before.com": 0, "won_late.com": 0, "lost.com": 0,
                   "accepted.com": 0}  # fmt: skip
    assert (population, unobserved) == (7, 2)  # the unobserved are out, not negatives
    acc, _, _ = outcome_labels(frame, "accepted", 30, ["routed"])
    assert acc.set_index("account_domain")["label"].to_dict()["accepted.com"] == 1


# -- the warehouse path --------------------------------------------------------------------

WH_MODEL = ScoringModel.model_validate(
    {
        "name": "wh_model",
        "version": "2026.1.1",
        "categories": ["usage", "intent", "negative", "account"],
        "signals": [
            _sig("acc_a", "x_a", 20, "intent"),
            _sig("acc_b", "x_b", 10, evidence={"value": "x_b", "at": "last_b_at"},
                 decay={"half_life_days": 14}),
            {"id": "usr_c", "level": "user", "category": "usage", "label": "C", "points": 10,
             "when": {"feature": "u_c", "gte": 1}},
            _sig("acc_d", "x_d", -10, "negative"),
            _sig("acc_leak", "x_leak", 5, "account"),
        ],
        "pql": {"statuses": [{"name": "hot", "label": "Hot", "min_score": 20},
                             {"name": "no", "label": "No"}]},
        "pqa": {"tiers": [{"name": "t1", "label": "T1", "when": {"feature": "pqa_score", "gte": 40}},
                          {"name": "t2", "label": "T2", "when": {"feature": "pqa_score", "gte": 10}},
                          {"name": "t3", "label": "T3"}]},
    }
)  # fmt: skip
WEEKS = [datetime(2026, 3, 2) + timedelta(days=7 * k) for k in range(16)]
OBSERVED_UNTIL = WEEKS[-1] + timedelta(days=10)


def build_warehouse(wh: Warehouse, seed: int = 3, domains: int = 150) -> pd.DataFrame:
    """Feature slices, score history and handoff outcomes drawn from a known model:
    logit = -1.5 + 1.6 a + 0.8 b + 0.8 (any user c) - 0.8 d. A "future" feature slice 3
    days after each as_of carries x_leak = the handoff's label (a leak if ever read)."""
    rng = np.random.default_rng(seed)
    acc, usr, hist, out = [], [], [], []
    for as_of in WEEKS:
        for i in range(domains):
            dom = f"d{i}.com"
            a, b, d = (int(v) for v in rng.binomial(1, [0.4, 0.5, 0.3]))
            cs = rng.binomial(1, 0.3, 2)
            logit = -1.5 + 1.6 * a + 0.8 * b + 0.8 * int(cs.any()) - 0.8 * d
            label = bool(rng.random() < 1 / (1 + np.exp(-logit)))
            feats = {"account_domain": dom, "x_a": a, "x_b": b, "x_d": d,
                     "last_b_at": as_of - timedelta(days=int(rng.integers(0, 10)))}  # fmt: skip
            acc.append({"as_of": as_of, **feats, "x_leak": 0})
            acc.append({"as_of": as_of + timedelta(days=3), **feats, "x_leak": int(label)})
            for j, c in enumerate(cs):
                usr.append({"as_of": as_of, "user_id": f"u{j}@{dom}", "account_domain": dom,
                            "u_c": int(c)})  # fmt: skip
            hist.append({"as_of": as_of, "model_version": WH_MODEL.model_version,
                         "entity_type": "account", "entity_id": dom, "account_domain": dom,
                         "score": 0.0, "status": "t2"})  # fmt: skip
            handed = as_of + timedelta(hours=2)
            routed = rng.random() > 0.1
            row: dict[str, object] = dict.fromkeys(HANDOFF_OUTCOME_COLUMNS)
            row.update(
                as_of=as_of, model_version=WH_MODEL.model_version, account_domain=dom,
                episode_id=f"{dom}-{as_of:%m%d}", decision="routed" if routed else "holdout",
                tier="t1" if a else "t2", segment="mid_market", trigger_id="pricing",
                owner_email="rep@example.com" if routed else None, handed_off_at=handed,
                sla_due_at=handed + timedelta(hours=24), observed_until=OBSERVED_UNTIL,
            )  # fmt: skip
            if routed:
                row["disposition"] = "accepted" if rng.random() < 0.7 else "rejected"
                row["disposition_at"] = handed + timedelta(hours=20)
                row["first_touch_at"] = handed + timedelta(hours=float(rng.exponential(20)))
            if label and routed:
                row.update(opportunity_id=f"o-{dom}", opportunity_opened_at=handed + timedelta(days=2),
                           closed_at=handed + timedelta(days=int(rng.integers(3, 25))), won=True,
                           amount=12000.0)  # fmt: skip
            elif label:
                row["self_serve_converted_at"] = handed + timedelta(days=5)
            out.append(row)
    wh.load_df("account_features", pd.DataFrame(acc))
    wh.load_df("user_features", pd.DataFrame(usr))
    wh.load_df("score_history", pd.DataFrame(hist))
    outcomes = pd.DataFrame(out)
    for col in ("won",):
        outcomes[col] = outcomes[col].astype("boolean")
    outcomes["amount"] = outcomes["amount"].astype(float)
    wh.load_df(HANDOFF_OUTCOMES_TABLE, outcomes)
    return outcomes


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory):
    wh = Warehouse(tmp_path_factory.mktemp("cal") / "wh.duckdb")
    build_warehouse(wh)
    yield wh
    wh.close()


def test_dataset_uses_only_the_as_of_slice_and_observed_horizons(warehouse: Warehouse) -> None:
    design, counts = build_dataset(warehouse, WH_MODEL, "won", 30)
    # horizons of the last as_ofs (within 30 days of observed_until) are not observed yet
    late = sum(1 for w in WEEKS if w + timedelta(days=30) > OBSERVED_UNTIL)
    assert late == 3
    assert counts.unobserved > 0 and counts.rows == counts.labelled
    assert design.time.max() <= OBSERVED_UNTIL - timedelta(days=30)
    # x_leak = label only in the slices taken after as_of: never read
    assert (design.X["acc_leak"] == 0).all() and (design.fired["acc_leak"] == 0).all()
    assert design.X["acc_b"].between(0.6, 1.0).any()  # decayed by the engine (half-life 14 d)
    assert design.X["usr_c"].max() == 2  # users summed into the account, as the PQA does


def test_design_score_is_the_engine_score(warehouse: Warehouse) -> None:
    design, _ = build_dataset(warehouse, WH_MODEL, "won", 30)
    as_of = WEEKS[0]
    users = warehouse.query(f"SELECT * FROM user_features WHERE as_of = TIMESTAMP '{as_of}'")
    accounts = warehouse.query(f"SELECT * FROM account_features WHERE as_of = TIMESTAMP '{as_of}'")
    engine = score_frames(WH_MODEL, users, accounts, as_of).accounts.set_index("entity_id")
    mask = (design.time == as_of).to_numpy()
    ours = pd.Series(design.score()[mask], index=design.key[mask].to_numpy())
    assert ours.to_numpy() == pytest.approx(engine.loc[ours.index, "score"].to_numpy(), abs=0.05)


def test_run_calibration_end_to_end(warehouse: Warehouse, tmp_path: Path) -> None:
    cfg = CalibrationConfig(bootstrap=100, thresholds=ThresholdPolicy(target_precision=0.6))
    s = run_calibration(warehouse, WH_MODEL, target="won", horizon_days=30, out_dir=tmp_path,
                        config=cfg, now=datetime(2026, 7, 1))  # fmt: skip
    assert s.report_path == tmp_path / "handoff_report_wh_model_20260701.html"
    assert s.report_path.exists() and s.calibration_skipped is None
    model = load_model(s.proposed_model_path)
    assert model.version == "2026.1.2" == s.proposed_version
    assert s.auc_proposed.value > 0.65 and s.auc_current.value is not None
    assert s.auc_proposed.low < s.auc_proposed.value < s.auc_proposed.high
    assert s.accept_flag == "ok" and 0.6 <= s.accept_rate <= 0.75
    assert s.lift.routed_n > 0 and s.lift.holdout_n > 0 and s.lift.ci_low is not None
    assert s.precision_proposed is not None and s.threshold_proposed is not None
    assert s.as_dict()["report_path"] == str(s.report_path)
    html = s.report_path.read_text()
    assert "Current vs proposed" in html and f"{s.auc_proposed.value:.3f}" in html


def test_run_calibration_without_outcomes_reports_and_skips(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "empty.duckdb") as wh:
        build_warehouse(wh, domains=5)
        wh.execute(f"DELETE FROM {HANDOFF_OUTCOMES_TABLE}")
        s = run_calibration(wh, WH_MODEL, out_dir=tmp_path / "out", config=FAST)
    assert s.handoffs == 0 and s.proposed_model_path is None and s.auc_proposed is None
    assert "no labelled rows" in s.calibration_skipped
    html = s.report_path.read_text()
    assert "No outcomes yet" in html and "Calibration not run" in html


def test_missing_table_is_named(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "bare.duckdb") as wh:
        with pytest.raises(MissingTableError, match=HANDOFF_OUTCOMES_TABLE):
            run_calibration(wh, WH_MODEL, out_dir=tmp_path)
        wh.load_df("user_features", pd.DataFrame({"as_of": [WEEKS[0]], "user_id": ["u"]}))
        with pytest.raises(MissingTableError, match="account_features"):
            build_dataset(wh, WH_MODEL)


def test_fit_logistic_keeps_points_of_rare_signals(table: pd.DataFrame) -> None:
    design = table_design(table.assign(x_e=0), TABLE_MODEL, "won", "as_of")
    fit = fit_logistic(design, min_fires=20)
    assert "sig_e" in fit.kept and "sig_e" not in fit.coef
