"""A tokenizer and recursive-descent parser for the subset of SOQL the sandbox answers.

    query      := SELECT items FROM name [WHERE cond] [ORDER BY order (, order)*]
                  [LIMIT int] [OFFSET int]
    items      := COUNT() | item (, item)*
    item       := path | COUNT(path) [alias]
    cond       := conj (OR conj)*
    conj       := neg (AND neg)*
    neg        := NOT neg | ( cond ) | path op value | path [NOT] IN ( value, ... )
                | path LIKE string
    value      := string | number | NULL | TRUE | FALSE | date | datetime | DATE_LITERAL[:n]

Anything else is a SoqlError naming what was not understood. Parsing knows nothing of the
schema; `query.py` resolves names and types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

KEYWORDS = frozenset(
    [
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "NULL",
        "TRUE",
        "FALSE",
        "GROUP",
        "HAVING",
        "WITH",
        "FOR",
        "USING",
        "SCOPE",
        "INCLUDES",
        "EXCLUDES",
        "TYPEOF",
    ]
)
DATE_LITERALS = frozenset(
    [
        "YESTERDAY",
        "TODAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
    ]
)
N_DATE_LITERALS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"})
UNSUPPORTED_CLAUSES = frozenset({"GROUP", "HAVING", "WITH", "FOR", "USING", "TYPEOF"})
COMPARISON_OPS = ("=", "!=", "<>", "<=", ">=", "<", ">")

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),.:])
    """,
    re.VERBOSE,
)
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}


class SoqlError(Exception):
    """A query the sandbox cannot answer; `code` is Salesforce's errorCode."""

    def __init__(self, message: str, pos: int = 0, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.code = code

    def render(self, query: str) -> str:
        """Salesforce's message layout: the query, a caret, the row/column, the reason."""
        before = query[: self.pos]
        row = before.count("\n") + 1
        col = self.pos - (before.rfind("\n") + 1)
        line = query.splitlines()[row - 1] if query.strip() else ""
        return f"\n{line}\n{' ' * col}^\nERROR at Row:{row}:Column:{col + 1}\n{self.message}"


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, date, datetime, op, punct, eof
    value: Any
    pos: int
    text: str

    def is_kw(self, *words: str) -> bool:
        return self.kind == "ident" and str(self.value).upper() in words


def _read_string(text: str, start: int) -> tuple[str, int]:
    """The value of the quoted string opening at `start`, and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in "%_":
                out.append("\\" + nxt)  # kept escaped for LIKE patterns
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 4
            else:
                raise SoqlError(
                    f"Invalid string literal '{text[start : i + 2]}'. Illegal character "
                    f"sequence '\\{nxt}' in string literal.",
                    i,
                )
            i += 2
            continue
        if ch == "'":
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise SoqlError("unexpected end of query: unterminated string literal", start)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        m = _TOKEN_RE.match(text, i)
        if not m:
            raise SoqlError(f"unexpected character: '{text[i]}'", i)
        kind = m.lastgroup or ""
        if kind == "ws":
            i = m.end()
            continue
        if kind == "string":
            value, end = _read_string(text, i)
            tokens.append(Token("string", value, i, text[i:end]))
            i = end
            continue
        raw = m.group()
        if kind == "number" and raw[0] in "+-" and tokens and tokens[-1].kind in ("number",):
            raise SoqlError(f"unexpected token: '{raw}'", i)
        value: Any = raw
        if kind == "number":
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        tokens.append(Token(kind, value, i, raw))
        i = m.end()
    tokens.append(Token("eof", None, len(text), ""))
    return tokens


# --- AST ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldPath:
    parts: tuple[str, ...]
    pos: int

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class CountAll:
    pos: int


@dataclass(frozen=True)
class Aggregate:
    func: str
    path: FieldPath
    alias: str | None
    pos: int


@dataclass(frozen=True)
class Literal:
    kind: str  # string, number, null, boolean, date, datetime, date_literal
    value: Any  # for date_literal: (NAME, n or None)
    pos: int
    text: str


@dataclass(frozen=True)
class Comparison:
    path: FieldPath
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    path: FieldPath
    values: tuple[Literal, ...]
    negate: bool


@dataclass(frozen=True)
class Like:
    path: FieldPath
    pattern: Literal


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND, OR
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class OrderItem:
    path: FieldPath
    descending: bool
    nulls_first: bool


@dataclass
class Query:
    select: list[FieldPath | CountAll | Aggregate]
    sobject: str
    sobject_pos: int
    where: Any = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None

    @property
    def is_count(self) -> bool:
        return any(isinstance(s, CountAll) for s in self.select)


# --- parser ------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def unexpected(self, expecting: str | None = None) -> SoqlError:
        tok = self.tok
        what = "unexpected end of query" if tok.kind == "eof" else f"unexpected token: '{tok.text}'"
        if expecting:
            what += f" (expecting {expecting})"
        return SoqlError(what, tok.pos)

    def expect_kw(self, word: str) -> Token:
        if not self.tok.is_kw(word):
            raise self.unexpected(f"'{word}'")
        return self.advance()

    def expect_punct(self, ch: str) -> Token:
        if not (self.tok.kind == "punct" and self.tok.value == ch):
            raise self.unexpected(f"'{ch}'")
        return self.advance()

    def at_punct(self, ch: str) -> bool:
        return self.tok.kind == "punct" and self.tok.value == ch

    def name(self, what: str) -> Token:
        tok = self.tok
        if tok.kind != "ident" or tok.value.upper() in KEYWORDS - {"FIRST", "LAST"}:
            raise self.unexpected(what)
        return self.advance()

    # query := SELECT ... FROM ... [WHERE] [ORDER BY] [LIMIT] [OFFSET]
    def query(self) -> Query:
        self.expect_kw("SELECT")
        select = self.select_list()
        self.expect_kw("FROM")
        obj = self.name("an object name")
        if self.at_punct(","):
            raise SoqlError(
                "the sandbox answers queries on one object only (no joins)", self.tok.pos
            )
        query = Query(select=select, sobject=obj.value, sobject_pos=obj.pos)
        if self.tok.is_kw("WHERE"):
            self.advance()
            query.where = self.condition()
        if self.tok.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            query.order_by = [self.order_item()]
            while self.at_punct(","):
                self.advance()
                query.order_by.append(self.order_item())
        if self.tok.is_kw("LIMIT"):
            self.advance()
            query.limit = self.integer("LIMIT")
        if self.tok.is_kw("OFFSET"):
            self.advance()
            query.offset = self.integer("OFFSET")
        if self.tok.kind != "eof":
            if self.tok.kind == "ident" and self.tok.value.upper() in UNSUPPORTED_CLAUSES:
                raise SoqlError(
                    f"the sandbox does not support the {self.tok.value.upper()} clause",
                    self.tok.pos,
                )
            raise self.unexpected()
        if query.is_count and (len(select) > 1):
            raise SoqlError("COUNT() must be the only element in the SELECT list", select[0].pos)
        return query

    def integer(self, clause: str) -> int:
        tok = self.tok
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 0:
            raise self.unexpected(f"a non-negative integer after {clause}")
        self.advance()
        return int(tok.value)

    def select_list(self) -> list[FieldPath | CountAll | Aggregate]:
        items = [self.select_item()]
        while self.at_punct(","):
            self.advance()
            items.append(self.select_item())
        return items

    def select_item(self) -> FieldPath | CountAll | Aggregate:
        tok = self.tok
        if tok.kind == "punct" and tok.value == "(":
            raise SoqlError("the sandbox does not support subqueries", tok.pos)
        if tok.kind == "ident" and self.tokens[self.i + 1].text == "(":
            func = tok.value.upper()
            self.advance()
            self.advance()
            if func == "COUNT" and self.at_punct(")"):
                self.advance()
                return CountAll(tok.pos)
            if func == "FIELDS":
                raise SoqlError("the sandbox does not support FIELDS(); list the fields", tok.pos)
            if func != "COUNT":
                raise SoqlError(
                    f"the sandbox does not support the function {tok.value}() in SELECT",
                    tok.pos,
                )
            path = self.path()
            self.expect_punct(")")
            alias = None
            if self.tok.kind == "ident" and self.tok.value.upper() not in KEYWORDS:
                alias = self.advance().value
            return Aggregate("COUNT", path, alias, tok.pos)
        if tok.is_kw("TYPEOF"):
            raise SoqlError("the sandbox does not support TYPEOF", tok.pos)
        return self.path()

    def path(self) -> FieldPath:
        first = self.name("a field name")
        parts = [first.value]
        while self.at_punct("."):
            self.advance()
            parts.append(self.name("a field name after '.'").value)
        return FieldPath(tuple(parts), first.pos)

    def order_item(self) -> OrderItem:
        path = self.path()
        descending = False
        if self.tok.is_kw("ASC", "DESC"):
            descending = self.advance().value.upper() == "DESC"
        nulls_first = not descending
        if self.tok.is_kw("NULLS"):
            self.advance()
            if not self.tok.is_kw("FIRST", "LAST"):
                raise self.unexpected("FIRST or LAST")
            nulls_first = self.advance().value.upper() == "FIRST"
        return OrderItem(path, descending, nulls_first)

    # conditions
    def condition(self) -> Any:
        items = [self.conjunction()]
        while self.tok.is_kw("OR"):
            self.advance()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def conjunction(self) -> Any:
        items = [self.negation()]
        while self.tok.is_kw("AND"):
            self.advance()
            items.append(self.negation())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def negation(self) -> Any:
        if self.tok.is_kw("NOT"):
            self.advance()
            return Not(self.negation())
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.predicate()

    def predicate(self) -> Any:
        path = self.path()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.value == "<>" else tok.value
            return Comparison(path, op, self.value())
        if tok.is_kw("LIKE"):
            self.advance()
            pattern = self.value()
            if pattern.kind != "string":
                raise SoqlError("LIKE needs a quoted string pattern", pattern.pos)
            return Like(path, pattern)
        negate = False
        if tok.is_kw("NOT"):
            self.advance()
            negate = True
            if not self.tok.is_kw("IN"):
                raise self.unexpected("IN after NOT")
        if self.tok.is_kw("IN"):
            self.advance()
            if self.tokens[self.i + 1].is_kw("SELECT"):
                raise SoqlError("the sandbox does not support semi-join subqueries", tok.pos)
            self.expect_punct("(")
            values = [self.value()]
            while self.at_punct(","):
                self.advance()
                values.append(self.value())
            self.expect_punct(")")
            return InList(path, tuple(values), negate)
        if tok.is_kw("INCLUDES", "EXCLUDES"):
            raise SoqlError(f"the sandbox does not support {tok.value.upper()}", tok.pos)
        raise self.unexpected("a comparison operator, LIKE, IN or NOT IN")

    def value(self) -> Literal:
        tok = self.tok
        if tok.kind in ("string", "number", "date", "datetime"):
            self.advance()
            return Literal(tok.kind, tok.value, tok.pos, tok.text)
        if tok.kind == "ident":
            word = tok.value.upper()
            if word == "NULL":
                self.advance()
                return Literal("null", None, tok.pos, tok.text)
            if word in ("TRUE", "FALSE"):
                self.advance()
                return Literal("boolean", word == "TRUE", tok.pos, tok.text)
            if word in DATE_LITERALS:
                self.advance()
                return Literal("date_literal", (word, None), tok.pos, tok.text)
            if word in N_DATE_LITERALS:
                self.advance()
                self.expect_punct(":")
                n = self.tok
                if n.kind != "number" or not isinstance(n.value, int) or n.value < 0:
                    raise self.unexpected(f"a number after {word}:")
                self.advance()
                return Literal("date_literal", (word, n.value), tok.pos, f"{tok.text}:{n.text}")
        if tok.kind == "punct" and tok.value == ":":
            raise SoqlError("bind variables are not supported over REST", tok.pos)
        raise self.unexpected("a value")


def parse(text: str) -> Query:
    """Parse a SOQL query, raising SoqlError (MALFORMED_QUERY) for anything else."""
    if not text or not text.strip():
        raise SoqlError("unexpected end of query: the query is empty", 0)
    return _Parser(text).query()
