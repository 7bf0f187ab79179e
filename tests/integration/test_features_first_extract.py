"""The first extract into a warehouse without feature tables, with a user slice larger than
one DuckDB row group (122,880 rows): the account slice must read the user slice just written.

DuckDB 2.0.0 loses the rows of a large INSERT, for the open database, into a table an empty
CREATE TABLE AS created in the same transaction: they reach the file (a reopen sees them)
but a scan in the writing process sees none, so account_features came out empty on the
large sample's first run and full on the second.
"""

from __future__ import annotations

from pathlib import Path

from handoff.features import ACCOUNT_FEATURES_TABLE, USER_FEATURES_TABLE
from handoff.pipeline import extract_stage
from handoff.warehouse import Warehouse
from tests.conftest import SAMPLE_END

ROW_GROUP = 122_880  # DuckDB rows per row group: the bug needs an insert of at least this many


def _pad_users(path: Path, at_least: int) -> int:
    """Copy the sample's users (same companies, new ids) until there are `at_least`."""
    with Warehouse(path) as wh:
        for table in (USER_FEATURES_TABLE, ACCOUNT_FEATURES_TABLE, "domain_map", "firmographics"):
            wh.execute(f"DROP TABLE IF EXISTS {table}")
        n = int(wh.scalar("SELECT count(*) FROM users"))
        copies = -(-at_least // n) - 1
        wh.execute(
            "INSERT INTO users SELECT user_id || '-c' || CAST(c AS VARCHAR), email, name,"
            f" title, role, department, created_at FROM users, range(1, {copies + 1}) AS r(c)"
        )
        return int(wh.scalar("SELECT count(*) FROM users"))


def test_first_extract_of_a_large_user_slice_writes_the_accounts(sample_copy: Path) -> None:
    users = _pad_users(sample_copy, ROW_GROUP + 1)
    assert users > ROW_GROUP

    out = extract_stage(str(sample_copy), SAMPLE_END)

    assert out["users"] == users
    with Warehouse(sample_copy) as wh:
        expected = int(
            wh.scalar(
                f"SELECT count(DISTINCT account_domain) FROM {USER_FEATURES_TABLE} "
                "WHERE account_domain IS NOT NULL"
            )
        )
        stored = int(wh.scalar(f"SELECT count(*) FROM {ACCOUNT_FEATURES_TABLE}"))
    assert expected > 0
    assert out["accounts"] == stored == expected


def test_replace_select_into_a_new_table_is_readable_at_once(tmp_path: Path) -> None:
    n = ROW_GROUP + 5
    with Warehouse(tmp_path / "w.duckdb") as wh:
        written = wh.replace_select("big", f"SELECT 1 AS k, range AS id FROM range({n})", {"k": 1})
        seen = wh.query("SELECT count(id) AS ids, count(DISTINCT id) AS distinct_ids FROM big")
    assert written == n
    assert seen.to_dict("records") == [{"ids": n, "distinct_ids": n}]
