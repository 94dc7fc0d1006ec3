"""The filter bar's little language, compiled to a predicate over rows.

Terms are separated by spaces and must all match; a leading `!` inverts a term:

    ready                 text anywhere in the row (case-insensitive)
    /fss-0[0-9]/          a regular expression
    status=ready          a field equal to a value (status, trigger, source, sandbox, bucket, id,
                          image, tag, mount, depending on the table)
    age>7d  age<12h       age from creation (s, m, h, d, w; see `units`)
    size>1GiB  size<=10M  size (10M = 10MB = 10**7 bytes, 10Mi = 10MiB = 10 * 2**20)
    !status=failed        not failed
"""

from __future__ import annotations

import operator
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as default
from typing import Any, Generic, TypeVar

from ..units import parse_duration, parse_size

R = TypeVar("R")

_COMPARE = re.compile(r"^(age|size)(>=|<=|>|<|=)(.+)$")
_EQUALS = re.compile(r"^([a-z_]+)=(.*)$")
_UNFINISHED = re.compile(r"^!?(age|size)(>=|<=|>|<)$")  # `age>` while the value is being typed
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le, "=": operator.eq}


class FilterError(ValueError):
    """A filter that cannot be understood; the message says which term and why."""


@dataclass(frozen=True)
class Fields(Generic[R]):
    """How a table exposes its rows to filters."""

    text: Callable[[R], str]  # lower-case haystack for plain and regex terms
    values: Mapping[str, Callable[[R], str | tuple[str, ...]]]  # for key=value
    created: Callable[[R], float | None]
    size: Callable[[R], int] | None = None
    # The values a key=value field can hold, where they are few (status, trigger): any other
    # value is refused by name rather than matching nothing.
    choices: Mapping[str, tuple[str, ...]] = default(default_factory=dict)


Predicate = Callable[[R], bool]


@dataclass(frozen=True)
class RowFilter(Generic[R]):
    """A compiled filter. Plain text terms are kept apart as `needles`, so a table that
    keeps each row's text can test them with one `in` per row and no calls."""

    needles: tuple[str, ...]  # lower-case; the row's text must contain every one
    ranges: tuple[Range, ...]  # numeric bounds on a row's creation time or size
    predicate: Predicate[R] | None  # every other term, all of which must hold
    fields: Fields[R]

    def __call__(self, row: R) -> bool:
        text = self.fields.text(row)
        if not all(needle in text for needle in self.needles):
            return False
        for bound in self.ranges:
            getter = self.fields.created if bound.field == "created" else self.fields.size
            value = getter(row) if getter is not None else None
            if value is None or not _OPS[bound.op](value, bound.value):
                return False
        return self.predicate is None or self.predicate(row)


@dataclass(frozen=True)
class Range:
    """`field op value`, e.g. created < (now - 7 days) for `age>7d`."""

    field: str  # "created" or "size"
    op: str  # one of > < >= <= =
    value: float


def compile_filter(expression: str, fields: Fields[R], now: float) -> RowFilter[R] | None:
    """None for an empty filter (everything matches)."""
    terms = _split(expression)
    needles = tuple(t.lower() for t in terms if _plain(t))
    ranges: list[Range] = []
    checks = []
    for term in terms:
        if _plain(term):
            continue
        bound = _range(term, fields, now)
        if bound is not None:
            ranges.append(bound)
        else:
            checks.append(_term(term, fields, now))
    if not needles and not ranges and not checks:
        return None
    predicate: Predicate[R] | None = None
    if len(checks) == 1:
        predicate = checks[0]
    elif checks:
        predicate = lambda row: all(check(row) for check in checks)  # noqa: E731
    return RowFilter(needles, tuple(ranges), predicate, fields)


_MIRRORED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "="}


def _range(term: str, fields: Fields[R], now: float) -> Range | None:
    """A positive age or size term as a numeric bound (None for any other term)."""
    compare = _COMPARE.match(term.lower())
    if compare is None:
        return None
    name, op_text, value = compare.groups()
    if name == "age":
        limit = _age(value, f"{term}: age wants a value like 7d, 12h or 30m")
        return Range("created", _MIRRORED[op_text], now - limit)  # older: created earlier
    if fields.size is None:
        raise FilterError(f"{term}: this table has no size")
    limit = _size(value, f"{term}: size wants a value like 1GiB or 500MB")
    return Range("size", op_text, limit)


def narrows(old: str, new: str) -> bool:
    """Whether `new` can only match rows that `old` matches, so filtering what `old`
    shows is enough (typing on at the end of a text filter)."""
    try:
        before, after = _split(old), _split(new)
    except FilterError:
        return False
    if not before or len(after) < len(before) or not all(_plain(t) for t in before):
        return False
    *same, last = before
    return after[:len(same)] == same and _plain(after[len(same)]) \
        and after[len(same)].lower().startswith(last.lower())


def _split(expression: str) -> list[str]:
    try:
        terms = shlex.split(expression)
    except ValueError as exc:
        raise FilterError(f"cannot read the filter: {exc}") from None
    for term in terms:
        unfinished = _UNFINISHED.match(term.lower())
        if unfinished:
            example = "7d" if unfinished.group(1) == "age" else "1GiB"
            raise FilterError(f"{term}: needs a value, like {term.lstrip('!')}{example}")
    return terms


def _plain(term: str) -> bool:
    """A text term: no negation, no regular expression, no field comparison."""
    return not (term.startswith(("!", "/")) or _COMPARE.match(term.lower())
                or _EQUALS.match(term))


def _term(term: str, fields: Fields[R], now: float) -> Predicate[R]:
    negate = term.startswith("!")
    body = term[1:] if negate else term
    if not body:
        raise FilterError("'!' must be followed by a term")
    check = _positive(body, fields, now)
    return (lambda row: not check(row)) if negate else check


def _positive(body: str, fields: Fields[R], now: float) -> Predicate[R]:
    if len(body) >= 2 and body.startswith("/") and body.endswith("/"):
        try:
            pattern = re.compile(body[1:-1], re.IGNORECASE)
        except re.error as exc:
            raise FilterError(f"{body}: not a valid regular expression ({exc})") from None
        return lambda row: pattern.search(fields.text(row)) is not None
    compare = _COMPARE.match(body.lower())
    if compare:
        name, op_text, value = compare.groups()
        op = _OPS[op_text]
        if name == "age":
            limit = _age(value, f"{body}: age wants a value like 7d, 12h or 30m")
            return _age_check(fields.created, op_text, now - limit)
        if fields.size is None:
            raise FilterError(f"{body}: this table has no size")
        limit = _size(value, f"{body}: size wants a value like 1GiB or 500MB")
        size = fields.size
        return lambda row: op(size(row), limit)
    equals = _EQUALS.match(body)
    if equals:
        name, value = equals.group(1).lower(), equals.group(2).lower()
        getter = fields.values.get(name)
        if getter is None:
            known = ", ".join(sorted([*fields.values, "age", *(["size"] if fields.size else [])]))
            raise FilterError(f"{body}: unknown field {name!r} (known: {known})")
        if not value:
            raise FilterError(f"{body}: {name}= needs a value")
        allowed = fields.choices.get(name)
        if allowed is not None and value not in allowed:
            raise FilterError(f"{body}: {name} is one of {', '.join(allowed)}")

        def matches(row: R) -> bool:
            got = getter(row)
            if isinstance(got, tuple):
                return any(v.lower() == value for v in got)
            return got.lower() == value
        return matches
    needle = body.lower()
    return lambda row: needle in fields.text(row)


def _age_check(created: Callable[[R], float | None], op_text: str,
               cutoff: float) -> Predicate[R]:
    """age OP limit, said as a comparison of the creation time with `cutoff` = now - limit
    (older means created earlier); one comparison per row, as this runs on every row."""
    if op_text == ">":
        return lambda row: (c := created(row)) is not None and c < cutoff
    if op_text == ">=":
        return lambda row: (c := created(row)) is not None and c <= cutoff
    if op_text == "<":
        return lambda row: (c := created(row)) is not None and c > cutoff
    if op_text == "<=":
        return lambda row: (c := created(row)) is not None and c >= cutoff
    return lambda row: (c := created(row)) is not None and c == cutoff


def _age(value: str, message: str) -> float:
    seconds = parse_duration(value, unit_required=True)
    if seconds is None:
        raise FilterError(message)
    return seconds


def _size(value: str, message: str) -> float:
    size = parse_size(value)
    if size is None:
        raise FilterError(message)
    return float(size)
