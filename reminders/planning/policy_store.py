"""Policies stored per org with their history: each load of a changed YAML file is a new version,
and the newest loaded version is the active one. The YAML text is kept verbatim."""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reminders.core.policy import Policy, default_policy
from reminders.models import PolicyVersion
from reminders.planning.policy_file import parse_policy
from reminders.sending.overrides import override_names
from sync.models import Customer


@dataclass(frozen=True)
class ActivePolicy:
    policy: Policy
    label: str  # "name@vN", or "default (built-in)"


def org_tags(session: Session, org_id: int) -> set[str]:
    tags: set[str] = set()
    # No DISTINCT: PostgreSQL's json type has no equality operator.
    for row in session.scalars(select(Customer.tags).where(Customer.org_id == org_id)):
        tags.update(row or [])
    return tags


def org_templates(session: Session, org_id: int) -> set[str]:
    """Template names the org added through overrides; a policy may name them."""
    return override_names(session, org_id)


def save_version(
    session: Session, org_id: int, text: str, filename: str, actor: str = "cli"
) -> tuple[PolicyVersion, bool]:
    """Validate against the org's tags, store as a new version (unless unchanged) and activate it."""
    policy = parse_policy(
        text,
        filename,
        known_tags=org_tags(session, org_id),
        templates=org_templates(session, org_id),
    )
    latest = session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.org_id == org_id, PolicyVersion.name == policy.name)
        .order_by(PolicyVersion.version.desc())
        .limit(1)
    )
    session.execute(
        update(PolicyVersion).where(PolicyVersion.org_id == org_id).values(active=False)
    )
    if latest is not None and latest.source_text == text:
        latest.active = True
        return latest, False
    version = PolicyVersion(
        org_id=org_id,
        name=policy.name,
        version=(latest.version + 1) if latest else 1,
        source_text=text,
        active=True,
        created_by=actor,
    )
    session.add(version)
    session.flush()
    return version, True


def active_policy(session: Session, org_id: int) -> ActivePolicy:
    row = session.scalar(
        select(PolicyVersion).where(PolicyVersion.org_id == org_id, PolicyVersion.active.is_(True))
    )
    if row is None:
        return ActivePolicy(default_policy(), f"{BUILTIN_NAME} (built-in)")
    return ActivePolicy(
        parse_policy(
            row.source_text,
            f"{row.name}@v{row.version}",
            templates=org_templates(session, org_id),
        ),
        f"{row.name}@v{row.version}",
    )


BUILTIN_NAME = "default"


def builtin_policy_text() -> str:
    """The built-in policy as a policy file: what `policies show default` prints, and a start
    for one's own (it loads back to the same policy)."""
    body = yaml.safe_dump(
        default_policy().model_dump(mode="json", exclude_defaults=True),
        allow_unicode=True,
        sort_keys=False,
    )
    return (
        "# The built-in policy, used until one is loaded. To change it: save this to a file,\n"
        "# edit it, then `dunlin policies check FILE` and `dunlin policies load FILE`.\n" + body
    )


def versions(session: Session, org_id: int) -> list[PolicyVersion]:
    return list(
        session.scalars(
            select(PolicyVersion)
            .where(PolicyVersion.org_id == org_id)
            .order_by(PolicyVersion.name, PolicyVersion.version.desc())
        )
    )
