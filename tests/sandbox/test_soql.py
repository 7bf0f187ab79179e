"""SOQL tokenizer, parser and executor of the Salesforce sandbox (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_sandbox.api import SimClock
from crm_sandbox.salesforce.query import Source, execute
from crm_sandbox.salesforce.soql import (
    BoolOp,
    Comparison,
    CountAll,
    FieldPath,
    InList,
    Like,
    Not,
    SoqlError,
    parse,
    tokenize,
)
from crm_sandbox.salesforce.store import Store


def test_tokenizer_reads_literals_and_escapes() -> None:
    tokens = tokenize(
        r"SELECT Id FROM Account WHERE Name = 'O\'Brien \\ co' AND X > 2026-01-01T00:00:00Z"
        " AND D = 2026-01-31 AND N >= -1.5"
    )
    kinds = [(t.kind, t.value) for t in tokens if t.kind in ("string", "datetime", "date")]
    assert kinds == [
        ("string", "O'Brien \\ co"),
        ("datetime", "2026-01-01T00:00:00Z"),
        ("date", "2026-01-31"),
    ]
    assert [t.value for t in tokens if t.kind == "number"] == [-1.5]


def test_parse_select_list_with_parent_fields_and_clauses() -> None:
    q = parse(
        "select Id, Name, Owner.Email, Account.Owner.Name from Opportunity "
        "where Amount > 100 order by CloseDate desc nulls last, Name limit 10 offset 5"
    )
    assert [s.parts for s in q.select if isinstance(s, FieldPath)] == [
        ("Id",),
        ("Name",),
        ("Owner", "Email"),
        ("Account", "Owner", "Name"),
    ]
    assert q.sobject == "Opportunity"
    assert isinstance(q.where, Comparison) and q.where.op == ">" and q.where.value.value == 100
    assert [(o.path.dotted, o.descending, o.nulls_first) for o in q.order_by] == [
        ("CloseDate", True, False),
        ("Name", False, True),
    ]
    assert (q.limit, q.offset) == (10, 5)


def test_parse_boolean_structure_respects_precedence_and_parentheses() -> None:
    q = parse(
        "SELECT Id FROM Account WHERE A__c = 1 OR B__c = 2 AND NOT (C__c = 3 OR D__c IN (1, 2))"
    )
    assert isinstance(q.where, BoolOp) and q.where.op == "OR"
    right = q.where.items[1]
    assert isinstance(right, BoolOp) and right.op == "AND"
    negated = right.items[1]
    assert isinstance(negated, Not) and isinstance(negated.item, BoolOp)
    assert isinstance(negated.item.items[1], InList)


def test_parse_not_in_like_count_and_date_literals() -> None:
    q = parse("SELECT COUNT() FROM Lead WHERE Status NOT IN ('A','B') AND Email LIKE '%@x.com'")
    assert isinstance(q.select[0], CountAll) and q.is_count
    assert isinstance(q.where, BoolOp)
    not_in, like = q.where.items
    assert isinstance(not_in, InList) and not_in.negate
    assert isinstance(like, Like) and like.pattern.value == "%@x.com"
    q2 = parse("SELECT Id FROM Task WHERE ActivityDate = LAST_N_DAYS:7 OR ActivityDate = TODAY")
    assert isinstance(q2.where, BoolOp)
    assert [i.value.value for i in q2.where.items] == [("LAST_N_DAYS", 7), ("TODAY", None)]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("SELECT Id FROM Account GROUP BY Name", "GROUP clause"),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "subqueries"),
        ("SELECT FIELDS(ALL) FROM Account", "FIELDS()"),
        ("SELECT Id FROM Account WHERE Name = 'x", "unterminated string"),
        ("SELECT Id FROM Account WHERE", "unexpected end of query"),
        ("SELECT Id FROM Account WHERE Name == 'x'", "unexpected token: '='"),
        ("SELECT Id FROM Account LIMIT -1", "non-negative integer"),
        ("SELECT Id FROM Account, Contact", "one object only"),
        ("SELECT Id, COUNT() FROM Account", "only element"),
        ("SELECT Id FROM Account WHERE Name = :name", "bind variables"),
        ("", "empty"),
    ],
)
def test_parse_errors_say_what_was_not_understood(text: str, fragment: str) -> None:
    with pytest.raises(SoqlError) as info:
        parse(text)
    assert fragment in info.value.message
    assert info.value.code == "MALFORMED_QUERY"


def test_error_render_points_at_the_column() -> None:
    text = "SELECT Id FROM Account WHERE Name == 'x'"
    with pytest.raises(SoqlError) as info:
        parse(text)
    rendered = info.value.render(text)
    assert "ERROR at Row:1:Column:36" in rendered
    assert rendered.splitlines()[2].index("^") == 35


# --- executor over a store --------------------------------------------------------------


@pytest.fixture
def store() -> Store:
    clock = SimClock()
    clock.set_now(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    store = Store(clock)
    owner = store.api_user_id
    rows = [
        ("Acme", 500, "Technology", "acme.com"),
        ("beta corp", 20, None, "beta.io"),
        ("Gamma", None, "Banking", None),
        ("Delta 100%", 1200, "Technology", "delta.com"),
    ]
    for name, employees, industry, site in rows:
        values = {"Name": name, "NumberOfEmployees": employees, "Industry": industry}
        values["Website"] = site
        store.create("Account", {k: v for k, v in values.items() if v is not None}, actor=owner)
    acme = next(r for r in store.records["Account"].values() if r["Name"] == "Acme")
    store.create(
        "Opportunity",
        {
            "Name": "Acme renewal",
            "AccountId": acme["Id"],
            "StageName": "Closed Won",
            "CloseDate": "2026-03-01",
            "Amount": 1000,
        },
    )
    store.create(
        "Opportunity",
        {"Name": "Orphan", "StageName": "Prospecting", "CloseDate": "2026-04-01"},
    )
    return store


def run(store: Store, text: str, include_deleted: bool = False) -> list[dict]:
    def lookup(rid: str):
        found = store.get_any(rid)
        return (store.objects[found[0]], found[1]) if found else None

    def rows(obj, deleted):
        out = list(store.records[obj.name].values())
        return out + list(store.deleted[obj.name].values()) if deleted else out

    source = Source(store.find_object, rows, lookup, store.clock.now)
    return execute(parse(text), source, "62.0", include_deleted=include_deleted).records


def names(rows: list[dict]) -> list[str]:
    return [r["Name"] for r in rows]


def test_where_comparisons_are_typed_and_case_insensitive(store: Store) -> None:
    assert names(run(store, "SELECT Name FROM Account WHERE Name = 'BETA CORP'")) == ["beta corp"]
    assert names(
        run(store, "SELECT Name FROM Account WHERE NumberOfEmployees >= 500 ORDER BY Name")
    ) == ["Acme", "Delta 100%"]
    # != includes nulls in SOQL
    assert names(
        run(store, "SELECT Name FROM Account WHERE Industry != 'Technology' ORDER BY Name")
    ) == ["beta corp", "Gamma"]
    assert names(run(store, "SELECT Name FROM Account WHERE Website = null")) == ["Gamma"]
    assert names(
        run(
            store,
            "SELECT Name FROM Account WHERE (Industry = 'Banking' OR NumberOfEmployees < 50) "
            "AND NOT Name LIKE 'g%'",
        )
    ) == ["beta corp"]


def test_in_like_and_escaped_wildcards(store: Store) -> None:
    assert names(
        run(store, "SELECT Name FROM Account WHERE Industry IN ('Banking', 'Retail')")
    ) == ["Gamma"]
    assert sorted(
        names(run(store, "SELECT Name FROM Account WHERE Industry NOT IN ('Banking')"))
    ) == ["Acme", "Delta 100%", "beta corp"]
    assert names(run(store, r"SELECT Name FROM Account WHERE Name LIKE '%100\%'")) == ["Delta 100%"]
    assert names(run(store, "SELECT Name FROM Account WHERE Name LIKE '_cme'")) == ["Acme"]


def test_order_by_nulls_limit_offset(store: Store) -> None:
    q = "SELECT Name FROM Account ORDER BY NumberOfEmployees"
    assert names(run(store, q)) == ["Gamma", "beta corp", "Acme", "Delta 100%"]
    q = "SELECT Name FROM Account ORDER BY NumberOfEmployees DESC"
    assert names(run(store, q)) == ["Delta 100%", "Acme", "beta corp", "Gamma"]
    q = "SELECT Name FROM Account ORDER BY NumberOfEmployees DESC NULLS FIRST LIMIT 2 OFFSET 1"
    assert names(run(store, q)) == ["Delta 100%", "Acme"]
    q = "SELECT Name FROM Account ORDER BY Industry ASC NULLS LAST, Name DESC"
    assert names(run(store, q)) == ["Gamma", "Delta 100%", "Acme", "beta corp"]


def test_parent_fields_are_nested_records(store: Store) -> None:
    rows = run(
        store,
        "SELECT Name, IsWon, Account.Name, Account.Owner.Email FROM Opportunity ORDER BY Name",
    )
    acme, orphan = rows
    assert acme["IsWon"] is True
    assert acme["Account"]["Name"] == "Acme"
    assert acme["Account"]["attributes"]["type"] == "Account"
    assert acme["Account"]["Owner"]["Email"] == "integration@example.com"
    assert orphan["Account"] is None
    assert names(
        run(store, "SELECT Name FROM Opportunity WHERE Account.Industry = 'Technology'")
    ) == ["Acme renewal"]


def test_datetime_and_date_literals(store: Store) -> None:
    assert len(run(store, "SELECT Id FROM Account WHERE CreatedDate > 2026-03-10T11:00:00Z")) == 4
    assert run(store, "SELECT Id FROM Account WHERE CreatedDate > 2026-03-10T12:59:59+01:00")
    assert not run(store, "SELECT Id FROM Account WHERE CreatedDate > 2026-03-10T12:30:00Z")
    assert len(run(store, "SELECT Id FROM Account WHERE CreatedDate = TODAY")) == 4
    assert not run(store, "SELECT Id FROM Account WHERE CreatedDate = YESTERDAY")
    assert names(run(store, "SELECT Name FROM Opportunity WHERE CloseDate < 2026-03-15")) == [
        "Acme renewal"
    ]
    assert names(run(store, "SELECT Name FROM Opportunity WHERE CloseDate = NEXT_N_DAYS:30")) == [
        "Orphan"
    ]
    store.clock.advance(timedelta(days=2))
    assert len(run(store, "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:2")) == 4
    assert not run(store, "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:1")


def test_count_and_aggregate(store: Store) -> None:
    def source_count(text: str) -> int:
        def lookup(rid: str):
            found = store.get_any(rid)
            return (store.objects[found[0]], found[1]) if found else None

        source = Source(
            store.find_object,
            lambda obj, _d: list(store.records[obj.name].values()),
            lookup,
            store.clock.now,
        )
        return execute(parse(text), source, "62.0").total_size

    assert source_count("SELECT COUNT() FROM Account WHERE Industry = 'Technology'") == 2
    rows = run(store, "SELECT COUNT(Industry) n FROM Account")
    assert rows == [{"attributes": {"type": "AggregateResult"}, "n": 3}]


def test_deleted_rows_only_in_query_all(store: Store) -> None:
    gamma = next(r for r in store.records["Account"].values() if r["Name"] == "Gamma")
    store.delete("Account", gamma["Id"])
    assert "Gamma" not in names(run(store, "SELECT Name FROM Account"))
    rows = run(store, "SELECT Name, IsDeleted FROM Account WHERE IsDeleted = TRUE", True)
    assert [(r["Name"], r["IsDeleted"]) for r in rows] == [("Gamma", True)]


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("SELECT Nope FROM Account", "INVALID_FIELD", "No such column 'Nope'"),
        ("SELECT Foo.Name FROM Account", "INVALID_FIELD", "relationship 'Foo'"),
        ("SELECT Id FROM Nope", "INVALID_TYPE", "sObject type 'Nope'"),
        (
            "SELECT Id FROM Account WHERE CreatedDate > '2026-01-01'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "must be of type dateTime",
        ),
        (
            "SELECT Id FROM Account WHERE NumberOfEmployees = '5'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "must be of type int",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 5",
            "INVALID_QUERY_FILTER_OPERATOR",
            "must be of type string",
        ),
        ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "offset"),
        ("SELECT Name, Name FROM Account", "MALFORMED_QUERY", "duplicate field"),
        ("SELECT Name, COUNT(Id) FROM Account", "MALFORMED_QUERY", "grouped or aggregated"),
    ],
)
def test_semantic_errors(store: Store, text: str, code: str, fragment: str) -> None:
    with pytest.raises(SoqlError) as info:
        run(store, text)
    assert info.value.code == code
    assert fragment in info.value.message
