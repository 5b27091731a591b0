"""A small SOQL parser and evaluator: the query shapes Reef sends, and errors for the rest.

SELECT f, ... | COUNT() FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n], where cond combines `field op literal` with AND, OR, NOT and parentheses, and
literals are dateTimes (no quotes), 'strings', numbers, true, false and null.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<datetime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


class SoqlError(Exception):
    """A query Salesforce would refuse: code (MALFORMED_QUERY, INVALID_FIELD, ...) and text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Query:
    obj: str
    fields: list[str]  # empty for COUNT()
    where: Any = None
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # name, desc, nulls last
    limit: int | None = None

    @property
    def is_count(self) -> bool:
        return not self.fields


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise SoqlError("MALFORMED_QUERY", f"unexpected text at {text[position:][:20]!r}")
        kind = match.lastgroup or ""
        value: Any = match.group(kind)
        if kind == "datetime":
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "number":
            value = float(value) if "." in value else int(value)
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.at = 0

    def peek_word(self) -> str:
        if self.at < len(self.tokens) and self.tokens[self.at][0] == "word":
            return str(self.tokens[self.at][1]).upper()
        return ""

    def take(self, kind: str | None = None, value: str | None = None) -> Any:
        if self.at >= len(self.tokens):
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        token_kind, token_value = self.tokens[self.at]
        if kind and token_kind != kind:
            raise SoqlError("MALFORMED_QUERY", f"expected {kind}, found {token_value!r}")
        if value and str(token_value).upper() != value:
            raise SoqlError("MALFORMED_QUERY", f"expected {value}, found {token_value!r}")
        self.at += 1
        return token_value

    def query(self) -> Query:
        self.take("word", "SELECT")
        fields: list[str] = []
        if self.peek_word() == "COUNT":
            self.take()
            self.take("punct", "(")
            self.take("punct", ")")
        else:
            fields.append(self.take("word"))
            while self.at < len(self.tokens) and self.tokens[self.at] == ("punct", ","):
                self.take()
                fields.append(self.take("word"))
        self.take("word", "FROM")
        query = Query(obj=self.take("word"), fields=fields)
        if self.peek_word() == "WHERE":
            self.take()
            query.where = self.disjunction()
        if self.peek_word() == "ORDER":
            self.take()
            self.take("word", "BY")
            query.order.append(self.order_term())
            while self.at < len(self.tokens) and self.tokens[self.at] == ("punct", ","):
                self.take()
                query.order.append(self.order_term())
        if self.peek_word() == "LIMIT":
            self.take()
            query.limit = int(self.take("number"))
        if self.at != len(self.tokens):
            raise SoqlError("MALFORMED_QUERY", f"unexpected {self.tokens[self.at][1]!r}")
        return query

    def order_term(self) -> tuple[str, bool, bool]:
        name = self.take("word")
        descending = False
        if self.peek_word() in ("ASC", "DESC"):
            descending = self.take().upper() == "DESC"
        nulls_last = descending is False
        if self.peek_word() == "NULLS":
            self.take()
            nulls_last = self.take("word").upper() == "LAST"
        return name, descending, nulls_last

    def disjunction(self) -> Any:
        terms = [self.conjunction()]
        while self.peek_word() == "OR":
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else ("or", terms)

    def conjunction(self) -> Any:
        terms = [self.negation()]
        while self.peek_word() == "AND":
            self.take()
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else ("and", terms)

    def negation(self) -> Any:
        if self.peek_word() == "NOT":
            self.take()
            return ("not", self.negation())
        if self.tokens[self.at] == ("punct", "("):
            self.take()
            inner = self.disjunction()
            self.take("punct", ")")
            return inner
        name = self.take("word")
        operator = self.take("op")
        kind, value = self.tokens[self.at]
        self.at += 1
        if kind == "word":
            word = str(value).lower()
            if word not in ("true", "false", "null"):
                raise SoqlError("MALFORMED_QUERY", f"unexpected {value!r}")
            value = {"true": True, "false": False, "null": None}[word]
        elif kind not in ("datetime", "string", "number"):
            raise SoqlError("MALFORMED_QUERY", f"unexpected {value!r}")
        return ("cmp", name, operator, value)


def parse(text: str) -> Query:
    """The query, or SoqlError(MALFORMED_QUERY)."""
    return _Parser(text).query()


def names_in(condition: Any) -> list[str]:
    """Every field name a condition mentions."""
    if condition is None:
        return []
    if condition[0] == "cmp":
        return [condition[1]]
    if condition[0] == "not":
        return names_in(condition[1])
    return [name for term in condition[1] for name in names_in(term)]


def matches(condition: Any, record: dict[str, Any]) -> bool:
    """Whether a record satisfies the condition (SQL-like: null compares false but for =/!=)."""
    if condition is None:
        return True
    kind = condition[0]
    if kind == "and":
        return all(matches(term, record) for term in condition[1])
    if kind == "or":
        return any(matches(term, record) for term in condition[1])
    if kind == "not":
        return not matches(condition[1], record)
    _, name, operator, literal = condition
    value = record.get(name)
    if literal is None or value is None:
        equal = value is None and literal is None
        return equal if operator == "=" else (not equal if operator in ("!=", "<>") else False)
    if isinstance(value, datetime) and not isinstance(literal, datetime):
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{name}' must be of type dateTime",
        )
    return {
        "=": value == literal,
        "!=": value != literal,
        "<>": value != literal,
        "<": value < literal,
        "<=": value <= literal,
        ">": value > literal,
        ">=": value >= literal,
    }[operator]
