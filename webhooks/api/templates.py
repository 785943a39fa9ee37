"""An org's own template texts: list, check, store (a new version each time)."""

from __future__ import annotations

import re

from dunlin.db import transaction
from dunlin.events import record_event
from reminders.sending.overrides import (
    OverrideKey,
    TemplateInvalid,
    current_rows,
    save_override,
    validate,
)
from reminders.sending.render import Renderer
from webhooks.api import bp
from webhooks.api import schemas as s
from webhooks.api.auth import Principal
from webhooks.api.spec import ApiRefused, operation
from webhooks.edge import dunlin_app

ADMIN = ("admin",)
STAFF = ("admin", "finance")
LINE = re.compile(r"^line (\d+): (.*)$", re.S)


def _issues(exc: TemplateInvalid) -> list[s.Issue]:
    out = []
    for error in exc.errors:
        found = LINE.match(error)
        line, message = (int(found.group(1)), found.group(2)) if found else (None, error)
        out.append(s.Issue(line=line, field="text", message=message))
    return out


def _key(body: s.TemplateIn) -> OverrideKey:
    return OverrideKey(body.name, body.channel, body.locale, body.part)


@operation(
    bp,
    "GET",
    "/templates",
    "The org's template overrides (newest version of each)",
    tag="templates",
    roles=STAFF,
    response=s.TemplateList,
)
def list_templates(p: Principal) -> s.TemplateList:
    with dunlin_app().factory() as db:
        rows = current_rows(db, p.org_id)
        return s.TemplateList(
            items=[s.TemplateOut.model_validate(r, from_attributes=True) for r in rows]
        )


@operation(
    bp,
    "POST",
    "/templates/validate",
    "Check a template text; every issue with its line",
    tag="templates",
    roles=STAFF,
    body=s.TemplateIn,
    response=s.ValidationOut,
)
def validate_template(p: Principal, body: s.TemplateIn) -> s.ValidationOut:
    try:
        validate(Renderer(), _key(body), body.text)
    except TemplateInvalid as exc:
        return s.ValidationOut(valid=False, issues=_issues(exc))
    return s.ValidationOut(valid=True, issues=[])


@operation(
    bp,
    "POST",
    "/templates",
    "Store a template text as the part's next version (used from the next send)",
    tag="templates",
    roles=ADMIN,
    body=s.TemplateIn,
    response=s.TemplateOut,
    status=201,
    beyond_schema="the text does not parse or does not render a sample message",
)
def create_template(p: Principal, body: s.TemplateIn) -> s.TemplateOut:
    key = _key(body)
    with transaction(dunlin_app().factory) as db:
        try:
            row = save_override(db, p.org_id, key, body.text, p.actor)
        except TemplateInvalid as exc:
            fields = [i.model_dump() for i in _issues(exc)]
            raise ApiRefused(
                422, "invalid_template", "the template is not valid / 模板无效", fields
            ) from exc
        record_event(
            db,
            p.org_id,
            "template.saved",
            f"{key.name} {key.channel} {key.locale} {key.part} v{row.version}",
            actor=p.actor,
        )
        return s.TemplateOut.model_validate(row, from_attributes=True)
