"""An org's own template texts: validated before they are stored, versioned, newest wins.

A row per edit (reminders.models.TemplateOverride); nothing is updated in place, so the
history says who changed which part when. Before a text is stored it must parse in Jinja's
sandbox and render against a sample message (with and without links and a pay URL), so a
broken template is refused at edit time with its line number, not at send time.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from types import FrameType
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dunlin.vocabulary import CHANNELS
from reminders.models import TemplateOverride
from reminders.sending.guard import LINK_KEYS
from reminders.sending.render import ANY_CHANNEL, LOCALES, MONEY_MEMO, PARTS, Overrides, Renderer

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,99}$")
MAX_TEXT = 20_000  # characters; a reminder is a page at most
# Interpreter events a sample render may take. The shipped body takes ~80,000 (most of it
# Babel's first money format); a nested loop over range() would otherwise hang the editor,
# the API worker and, later, every send. Counted only while validating (~1 s at the limit).
WORK_BUDGET = 2_000_000


class TooMuchWork(RuntimeError):
    """A sample render went past WORK_BUDGET."""


def _within_budget(render: Callable[[], str], budget: int = WORK_BUDGET) -> str:
    """Run `render` under a tracer that stops it after `budget` interpreter events."""
    spent = 0

    def tracer(_frame: FrameType, _event: str, _arg: Any) -> Any:
        nonlocal spent
        spent += 1
        if spent > budget:
            raise TooMuchWork(f"rendering took more than {budget:,} steps (a loop too large?)")
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return render()
    finally:
        sys.settrace(previous)


class TemplateInvalid(ValueError):
    """A text that cannot be stored; `errors` name lines ("line 3: ...")."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class OverrideKey:
    name: str
    channel: str
    locale: str
    part: str

    def check(self) -> OverrideKey:
        problems = []
        if not NAME.match(self.name):
            problems.append(f"name {self.name!r}: lowercase letters, digits, - and _ only")
        if self.channel != ANY_CHANNEL and self.channel not in CHANNELS:
            problems.append(f"channel {self.channel!r}: one of *, {', '.join(CHANNELS)}")
        if self.locale not in LOCALES:
            problems.append(f"locale {self.locale!r}: one of {', '.join(LOCALES)}")
        if self.part not in PARTS:
            problems.append(f"part {self.part!r}: one of {', '.join(PARTS)}")
        if problems:
            raise TemplateInvalid(problems)
        return self

    def as_tuple(self) -> tuple[str, str, str, str]:
        return (self.name, self.channel, self.locale, self.part)


def sample_contexts(today: date = date(2026, 12, 1)) -> list[dict[str, Any]]:
    """Messages a template must render: every field set, then no links and no pay URL."""
    invoices = [
        {
            "number": "AR-1001",
            "amount_open": Decimal("1280.50"),
            "amount_total": Decimal("1280.50"),
            "due_on": today - timedelta(days=12),
            "issued_on": today - timedelta(days=42),
            "days_overdue": 12,
        },
        {
            "number": "AR-1002",
            "amount_open": Decimal("300"),
            "amount_total": Decimal("500"),
            "due_on": today + timedelta(days=2),
            "issued_on": None,
            "days_overdue": -2,
        },
    ]
    full = {
        "org": {"name": "示例贸易 Demo Trading"},
        "customer": {"name": "上海华信贸易有限公司", "external_id": "C0001"},
        "salesperson_name": "张伟",
        "tone": "firm",
        "currency": "CNY",
        "total": Decimal("1580.50"),
        "days_overdue": 12,
        "payment_url": "https://pay.example.com/i/AR-1001",
        "overdue_count": 1,
        "due_soon_count": 1,
        "invoices": invoices,
        "self_service_url": "https://pay.example.com/s/TOKEN",
        "click_url": "https://pay.example.com/c/TOKEN",
        "unsubscribe_url": "https://pay.example.com/u/TOKEN",
        "short_url": "https://pay.example.com/m/1.2s.AbCdEfGhIjK",
    }
    bare = {
        **full,
        **dict.fromkeys(LINK_KEYS),
        "payment_url": None,
        "salesperson_name": None,
        "tone": "courtesy",
        "invoices": invoices[1:],
        "overdue_count": 0,
        "total": Decimal("300"),
        "days_overdue": 0,
    }
    return [full, bare]


def _line(exc: BaseException) -> int | None:
    """The template line a render error came from (Jinja maps its frames to `<template>`)."""
    lines = [
        f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"
    ]
    return lines[-1] if lines else None


def validate(renderer: Renderer, key: OverrideKey, text: str) -> None:
    """Raise TemplateInvalid unless `text` parses in the sandbox and renders the samples."""
    key.check()
    if len(text) > MAX_TEXT:
        raise TemplateInvalid([f"the text is {len(text)} characters; at most {MAX_TEXT}"])
    if not text.strip():
        raise TemplateInvalid(["the text is empty"])
    try:
        compiled = renderer.compile(key.locale, key.part, text)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid([f"line {exc.lineno}: {exc.message}"]) from exc
    errors = []
    for number, context in enumerate(sample_contexts(), 1):
        try:
            _within_budget(partial(compiled.render, context, locale=key.locale, **{MONEY_MEMO: {}}))
        except (
            TemplateError,
            ArithmeticError,
            LookupError,
            TypeError,
            ValueError,
            TooMuchWork,
            RecursionError,
        ) as exc:
            where = _line(exc)
            prefix = f"line {where}: " if where else ""
            errors.append(f"{prefix}{type(exc).__name__}: {exc} (sample message {number})")
    if errors:
        raise TemplateInvalid(sorted(set(errors)))


def save_override(
    session: Session,
    org_id: int,
    key: OverrideKey,
    text: str,
    created_by: str,
    renderer: Renderer | None = None,
) -> TemplateOverride:
    """Validate, then store as the next version of its key (unchanged text: no new row)."""
    validate(renderer or Renderer(), key, text)
    latest = session.scalar(
        select(TemplateOverride)
        .where(*_same_key(org_id, key))
        .order_by(TemplateOverride.version.desc())
        .limit(1)
    )
    if latest is not None and latest.text == text:
        return latest
    row = TemplateOverride(
        org_id=org_id,
        name=key.name,
        channel=key.channel,
        locale=key.locale,
        part=key.part,
        text=text,
        version=(latest.version + 1) if latest else 1,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def _same_key(org_id: int, key: OverrideKey) -> list[Any]:
    return [
        TemplateOverride.org_id == org_id,
        TemplateOverride.name == key.name,
        TemplateOverride.channel == key.channel,
        TemplateOverride.locale == key.locale,
        TemplateOverride.part == key.part,
    ]


def current_rows(session: Session, org_id: int) -> list[TemplateOverride]:
    """The newest version of each key, in key order."""
    newest = (
        select(
            TemplateOverride.name,
            TemplateOverride.channel,
            TemplateOverride.locale,
            TemplateOverride.part,
            func.max(TemplateOverride.version).label("version"),
        )
        .where(TemplateOverride.org_id == org_id)
        .group_by(
            TemplateOverride.name,
            TemplateOverride.channel,
            TemplateOverride.locale,
            TemplateOverride.part,
        )
        .subquery()
    )
    return list(
        session.scalars(
            select(TemplateOverride)
            .join(
                newest,
                (TemplateOverride.name == newest.c.name)
                & (TemplateOverride.channel == newest.c.channel)
                & (TemplateOverride.locale == newest.c.locale)
                & (TemplateOverride.part == newest.c.part)
                & (TemplateOverride.version == newest.c.version),
            )
            .where(TemplateOverride.org_id == org_id)
            .order_by(
                TemplateOverride.name,
                TemplateOverride.channel,
                TemplateOverride.locale,
                TemplateOverride.part,
            )
        )
    )


def current_overrides(session: Session, org_id: int) -> Overrides:
    """What the renderer takes: (name, channel, locale, part) → the newest text."""
    return {(r.name, r.channel, r.locale, r.part): r.text for r in current_rows(session, org_id)}


def history(session: Session, org_id: int, key: OverrideKey) -> list[TemplateOverride]:
    return list(
        session.scalars(
            select(TemplateOverride)
            .where(*_same_key(org_id, key))
            .order_by(TemplateOverride.version.desc())
        )
    )


def override_names(session: Session, org_id: int) -> set[str]:
    """Template names the org's overrides define (a policy may use them)."""
    return set(
        session.scalars(
            select(TemplateOverride.name).where(TemplateOverride.org_id == org_id).distinct()
        )
    )
