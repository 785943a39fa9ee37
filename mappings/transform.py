"""Apply a mapping to one source row: raw column values in, typed Dunlin records out.

The mapping is compiled once into a list of small field readers, so a row costs a handful of
dictionary look-ups and parser calls — the import of 100k rows is dominated by this loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple

from mappings import coerce
from mappings.fastpath import compile_path
from mappings.schema import CUSTOMER_FIELDS, RECEIVABLE_FIELDS, FieldSpec, Mapping, SourceSettings

Parser = Callable[[Any], Any]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class FieldError:
    column: str | None
    field: str
    message: str


class _Reader(NamedTuple):
    field: str
    column: str | None  # where the value comes from, as a person reads it (column or path)
    get: Callable[[dict[str, Any]], Any]
    value_map: dict[str, Any] | None
    fallback: Any
    default: Any
    required: bool
    parse: Parser


def _parser(kind: str, settings: SourceSettings) -> Parser:
    parsers: dict[str, Parser] = {
        "str": coerce.parse_str,
        "email": coerce.parse_email,
        "phone": lambda v: coerce.parse_phone(coerce.parse_str(v), settings.region),
        "language": coerce.parse_language,
        "timezone": coerce.parse_timezone,
        "tier": coerce.parse_tier,
        "list": coerce.parse_list,
        "channels": coerce.parse_channels,
        "bool": coerce.parse_bool,
        "date": partial(
            coerce.parse_date, formats=tuple(settings.date_formats), tz=settings.timezone
        ),
        "datetime": partial(coerce.parse_datetime, tz=settings.timezone),
        "amount": partial(coerce.parse_amount, decimal_separator=settings.decimal_separator),
        "currency": coerce.parse_currency,
        "status": coerce.parse_status,
        "url": coerce.parse_url,
    }
    return parsers[kind]


def _getter(spec: FieldSpec, kind: str) -> Callable[[dict[str, Any]], Any]:
    if spec.column is not None:
        return itemgetter_or_none(spec.column)
    if spec.path is not None:
        if _IDENTIFIER.fullmatch(spec.path):
            name = spec.path  # the common case: one dict look-up
            if kind == "bool":
                return lambda record: record.get(name)
            # Odoo marks an unset value with `false`; for anything but a yes/no it means blank.
            return lambda record: None if (value := record.get(name)) is False else value
        get = compile_path(spec.path)
        if kind == "bool":
            return get
        return lambda record: None if (value := get(record)) is False else value
    constant = spec.value
    return lambda _record: constant


def _minus(
    get: Callable[[dict[str, Any]], Any],
    other: Callable[[dict[str, Any]], Any],
    settings: SourceSettings,
) -> Callable[[dict[str, Any]], Any]:
    """`subtract`: the amount read less the amount at a second path (blank counts as 0);
    values that are not amounts are passed on unchanged for the parser to report."""
    parse = partial(coerce.parse_amount, decimal_separator=settings.decimal_separator)

    def get_difference(record: dict[str, Any]) -> Any:
        value = get(record)
        if value in (None, "", False):
            return value
        try:
            return parse(value) - parse(other(record) or 0)
        except ValueError:
            return value

    return get_difference


def itemgetter_or_none(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda record: record.get(key)


def _compile(
    specs: dict[str, FieldSpec], fields: dict[str, tuple[str, bool]], settings: SourceSettings
) -> list[_Reader]:
    readers = []
    for name, spec in specs.items():
        kind, required = fields[name]
        value_map = {str(k).strip(): v for k, v in spec.map.items()} if spec.map else None
        get = _getter(spec, kind)
        if spec.subtract is not None:
            get = _minus(get, compile_path(spec.subtract), settings)
        readers.append(
            _Reader(
                name,
                spec.column or spec.path,
                get,
                value_map,
                spec.fallback,
                spec.default,
                required,
                _parser(kind, settings),
            )
        )
    return readers


def _read(readers: list[_Reader], row: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Tuple unpacking rather than attribute access: this loop runs per field of every record.
    for field, column, get, value_map, fallback, default, required, parse in readers:
        raw = get(row)
        if raw.__class__ is str:
            raw = raw.strip()
        if raw is None or raw == "":
            raw = default
            if raw is None:
                if required:
                    errors.append(FieldError(column, field, "value is required / 必填"))
                continue
        if value_map is not None:
            key = str(raw).strip()
            if key in value_map:
                raw = value_map[key]
            elif fallback is not None:
                raw = fallback
            if raw is None:
                continue
        try:
            out[field] = parse(raw)
        except (ValueError, ArithmeticError) as exc:  # ArithmeticError: Decimal, overflow
            errors.append(FieldError(column, field, str(exc) or type(exc).__name__))
    return out


@dataclass
class RowResult:
    customer: dict[str, Any]
    receivable: dict[str, Any] | None
    errors: list[FieldError]


class RowTransformer:
    def __init__(self, mapping: Mapping, default_currency: str = "CNY") -> None:
        self.mapping = mapping
        self.currency = mapping.settings.currency or default_currency
        self._customer = _compile(mapping.customer.specs(), CUSTOMER_FIELDS, mapping.settings)
        self._receivable = (
            _compile(mapping.receivable.specs(), RECEIVABLE_FIELDS, mapping.settings)
            if mapping.receivable
            else None
        )
        self._customer_columns = tuple(r.column for r in self._customer if r.column)
        # An AR export repeats the customer's cells on every invoice row: parse them once.
        self._customer_cache: dict[tuple[Any, ...], tuple[dict[str, Any], list[FieldError]]] = {}

    @property
    def customer_fields(self) -> list[str]:
        return [r.field for r in self._customer]

    @property
    def column_fields(self) -> dict[str, str]:
        """Each column the mapping reads → the (first) field it fills, for error messages."""
        found: dict[str, str] = {}
        for reader in [*self._customer, *(self._receivable or [])]:
            if reader.column:
                found.setdefault(reader.column, reader.field)
        return found

    @property
    def receivable_fields(self) -> list[str]:
        fields = {r.field for r in self._receivable or []}
        return sorted(fields | {"number", "currency", "amount_open", "status"})

    def transform(self, row: dict[str, Any]) -> RowResult:
        customer, customer_errors = self._read_customer(row)
        errors = list(customer_errors)
        receivable = None
        if self._receivable is not None:
            receivable = _read(self._receivable, row, errors)
            if not errors:
                self._complete_receivable(receivable, errors)
        return RowResult(customer, receivable, errors)

    def _read_customer(self, row: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
        key = tuple(row.get(c) for c in self._customer_columns)
        cached = self._customer_cache.get(key)
        if cached is None:
            errors: list[FieldError] = []
            cached = (_read(self._customer, row, errors), errors)
            if len(self._customer_cache) >= 50_000:
                self._customer_cache.clear()
            self._customer_cache[key] = cached
        return dict(cached[0]), cached[1]

    def _complete_receivable(self, rec: dict[str, Any], errors: list[FieldError]) -> None:
        complete_receivable(rec, self.currency, errors)


class RecordTransformer:
    """Apply one entity section of an API mapping (customers or receivables) to source records."""

    def __init__(self, mapping: Mapping, entity: str, default_currency: str = "CNY") -> None:
        section = mapping.sections()[entity]
        fields = CUSTOMER_FIELDS if entity == "customers" else RECEIVABLE_FIELDS
        self.entity = entity
        self.currency = mapping.settings.currency or default_currency
        self.timezone = mapping.settings.timezone  # what a naive datetime of the source means
        self._readers = _compile(section.specs(), fields, mapping.settings)

    @property
    def fields(self) -> list[str]:
        names = {r.field for r in self._readers}
        if self.entity == "receivables":
            names |= {"number", "currency", "amount_open", "status"}
        return sorted(names)

    def transform(self, record: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
        errors: list[FieldError] = []
        out = _read(self._readers, record, errors)
        if self.entity == "receivables" and not errors:
            complete_receivable(out, self.currency, errors)
        return out, errors


def complete_receivable(rec: dict[str, Any], currency: str, errors: list[FieldError]) -> None:
    """Derive what the source left out: number, currency, open amount, status.

    An open amount of zero settles the receivable whatever the status said (payment detection
    by amount), and a settled status wins over a stale open amount.
    """
    rec.setdefault("number", rec["external_id"])
    rec.setdefault("currency", currency)
    rec.setdefault("amount_open", rec["amount_total"])
    if rec["amount_open"] > rec["amount_total"] and rec["amount_total"] >= 0:
        errors.append(
            FieldError(None, "amount_open", "open amount exceeds the total / 未收金额大于总额")
        )
    if "status" not in rec:
        rec["status"] = "open" if rec["amount_open"] > Decimal(0) else "paid"
    elif rec["status"] == "open" and rec["amount_open"] <= Decimal(0):
        rec["status"] = "paid"
