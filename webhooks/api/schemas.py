"""Request and response bodies of the admin API (pydantic; also the OpenAPI schemas)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeAlias
from zoneinfo import available_timezones

from pydantic import BaseModel, Field, field_validator

from dunlin.vocabulary import CHANNELS
from mappings import shipped_names
from reminders.sending.channels.registry import providers
from webhooks.api.spec import MAX_ID, ApiModel

Role = Literal["admin", "finance", "sales"]
# Closed sets are Literals built from where the server looks them up, so the schema's enum and
# the validation are one rule: IANA zone names, channel providers, shipped mappings. A type
# checker cannot read a Literal built at run time, so it sees them as the str they are.
if TYPE_CHECKING:
    TimeZone: TypeAlias = str
    Provider: TypeAlias = str
    MappingName: TypeAlias = str
    ChannelName: TypeAlias = str
    ChannelOrAny: TypeAlias = str
else:
    TimeZone = Literal[tuple(sorted(available_timezones()))]
    Provider = Literal[tuple(sorted(providers()))]
    MappingName = Literal[tuple(shipped_names())]
    ChannelName = Literal[CHANNELS]
    ChannelOrAny = Literal[("*", *CHANNELS)]
# Policy and mapping documents. Small in practice; the bound keeps the largest JSON a client can
# send for one (every character a \\uXXXX surrogate pair, 12 bytes) under the default 1 MiB body
# limit, so an over-long text is answered 422 for its length, not 413 for the request's size.
MAX_DOCUMENT = 64_000


class Page(ApiModel):
    """Keyset pagination: pass the last id you saw as `after`."""

    limit: int = Field(default=50, ge=1, le=200)
    after: int = Field(default=0, ge=0, le=MAX_ID)


class OrgOut(BaseModel):
    id: int
    slug: str
    name: str
    timezone: str
    language: str
    region: str
    currency: str


class OrgPatch(ApiModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: TimeZone | None = Field(default=None, description="An IANA time zone name.")
    language: Literal["zh_CN", "en_US"] | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    salesperson_ref: str | None
    active: bool


class UserList(BaseModel):
    items: list[UserOut]
    next_after: int | None


class UserIn(ApiModel):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")
    name: str = Field(default="", max_length=200)
    role: Role = "finance"
    password: str | None = Field(default=None, min_length=10, max_length=200)
    salesperson_ref: str | None = Field(default=None, max_length=128)


class UserPatch(ApiModel):
    name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    password: str | None = Field(default=None, min_length=10, max_length=200)
    salesperson_ref: str | None = Field(default=None, max_length=128)
    active: bool | None = None


class TokenIn(ApiModel):
    name: str = Field(min_length=1, max_length=100)
    user_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="Default: the caller.")


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    user_id: int
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; only its hash is stored.")


class TokenList(BaseModel):
    items: list[TokenOut]
    next_after: int | None


class LoginIn(ApiModel):
    org: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(description="Send as X-CSRFToken on unsafe requests.")


class SourceOut(BaseModel):
    id: int
    name: str
    kind: str
    mapping: str
    settings: dict[str, Any]
    credentials: str = Field(description="Which secrets are stored, masked.")
    status: str
    status_detail: str
    last_synced_at: datetime | None
    last_report: dict[str, Any] | None
    webhooks_enabled: bool


class SourceList(BaseModel):
    items: list[SourceOut]
    next_after: int | None


class SourceIn(ApiModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.-]+$")
    kind: Literal["odoo", "kingdee", "rest"]
    mapping: MappingName
    settings: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(default_factory=dict)


class WebhookSecretOut(BaseModel):
    secret: str = Field(description="Shown once.")
    urls: dict[str, str]


class ConnectionOut(BaseModel):
    ok: bool
    detail: str
    info: dict[str, Any] = Field(default_factory=dict)


class SyncOut(BaseModel):
    status: str
    detail: str
    counts: dict[str, Any]


class MappingOut(BaseModel):
    name: str
    kind: str
    description: str


class MappingList(BaseModel):
    items: list[MappingOut]


class TextIn(ApiModel):
    text: str = Field(min_length=1, max_length=MAX_DOCUMENT)


class Issue(BaseModel):
    line: int | None
    field: str
    message: str


class ValidationOut(BaseModel):
    valid: bool
    issues: list[Issue]


class PolicyVersionOut(BaseModel):
    id: int
    name: str
    version: int
    active: bool
    created_by: str
    created_at: datetime


class PolicyList(BaseModel):
    items: list[PolicyVersionOut]
    next_after: int | None


class PolicyIn(ApiModel):
    text: str = Field(min_length=1, max_length=MAX_DOCUMENT)
    activate: bool = True


class PreviewIn(ApiModel):
    text: str | None = Field(
        default=None, max_length=MAX_DOCUMENT, description="Default: the active policy."
    )
    on: date | None = None
    limit: int = Field(default=50, ge=1, le=500)


class PreviewItem(BaseModel):
    customer_id: int
    step: str
    channel: str
    scheduled_at: datetime | None


class PreviewOut(BaseModel):
    on: date
    planned: int
    items: list[PreviewItem]
    skipped: dict[str, int]


class CustomerOut(BaseModel):
    id: int
    source_id: int
    external_id: str
    name: str
    tier: str
    email: str | None
    mobile: str | None
    language: str | None
    salesperson_ref: str | None
    salesperson_name: str | None
    channel_preferences: list[str]
    opted_out_channels: list[str]
    do_not_remind: bool
    paused_until: date | None
    promised_on: date | None


class CustomerList(BaseModel):
    items: list[CustomerOut]
    next_after: int | None


class CustomerQuery(Page):
    q: str | None = Field(default=None, max_length=200, description="Name or external id contains.")
    ref: str | None = Field(
        default=None,
        max_length=300,
        description="Exactly this external id or name (found as `dunlin explain` finds them).",
    )
    tier: Literal["A", "B", "C"] | None = None


class CustomerPatch(ApiModel):
    tier: Literal["A", "B", "C"] | None = None
    do_not_remind: bool | None = None
    paused_until: date | None = None
    # A misspelt channel would silently not opt the customer out.
    opted_out_channels: list[ChannelName] | None = Field(default=None, max_length=len(CHANNELS))

    @field_validator("opted_out_channels")
    @classmethod
    def _once_each(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted(set(value))


class ReceivableOut(BaseModel):
    id: int
    customer_id: int
    source_id: int
    external_id: str
    number: str
    currency: str
    amount_total: str
    amount_open: str
    issued_on: date | None
    due_on: date
    status: str


class ReceivableList(BaseModel):
    items: list[ReceivableOut]
    next_after: int | None


class ReceivableQuery(Page):
    customer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    status: Literal["open", "paid", "cancelled", "disputed", "written_off"] | None = None


class ReminderOut(BaseModel):
    id: int
    customer_id: int
    target_receivable_id: int
    step: str
    channel: str
    template: str
    recipient: str = Field(description="Masked.")
    currency: str
    amount_open: str
    status: str
    reason: str
    error: str | None
    scheduled_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    attempts: int


class ReminderList(BaseModel):
    items: list[ReminderOut]
    next_after: int | None


class ReminderQuery(Page):
    customer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    status: str | None = Field(default=None, max_length=16)
    channel: ChannelName | None = None


class EventOut(BaseModel):
    id: int
    at: datetime
    kind: str
    actor: str
    subject_type: str | None
    subject_id: int | None
    summary: str


class EventList(BaseModel):
    items: list[EventOut]
    next_after: int | None


class EventQuery(Page):
    kind: str | None = Field(
        default=None, max_length=64, description="Exact kind or a prefix ending in '.'."
    )
    subject_type: str | None = Field(default=None, max_length=32)
    subject_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class Timeline(BaseModel):
    customer: CustomerOut
    receivables: list[ReceivableOut]
    reminders: list[ReminderOut]
    events: list[EventOut]


class TaskOut(BaseModel):
    id: int
    customer_id: int
    receivable_id: int | None
    assignee: str | None
    summary: str
    due_on: date
    status: str
    created_at: datetime


class TaskList(BaseModel):
    items: list[TaskOut]
    next_after: int | None


class TaskQuery(Page):
    status: Literal["open", "done", "vetoed", "cancelled"] | None = None
    customer_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class TaskPatch(ApiModel):
    status: Literal["open", "done", "vetoed", "cancelled"]


class ChannelOut(BaseModel):
    id: int
    name: str
    provider: str
    settings: dict[str, Any]
    secrets: str = Field(description="Which secrets are stored, masked.")
    broken_reason: str | None
    receipt_url: str | None


class ChannelList(BaseModel):
    items: list[ChannelOut]


class ChannelIn(ApiModel):
    provider: Provider
    settings: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)


class ChannelTestIn(ApiModel):
    to: str = Field(min_length=1, max_length=320)


class ChannelTestOut(BaseModel):
    outcome: str
    detail: str
    provider_message_id: str | None


class SourceStatusOut(BaseModel):
    name: str
    kind: str
    status: str
    status_detail: str
    last_synced_at: datetime | None


class MoneyOut(BaseModel):
    count: int
    totals: dict[str, str] = Field(description="Open amount per currency, as decimal text.")


class BrokenChannelOut(BaseModel):
    name: str
    provider: str
    reason: str


class StatusOut(BaseModel):
    """What `dunlin status` shows (without queue depths, which live in Redis)."""

    today: date
    sources: list[SourceStatusOut]
    open: MoneyOut
    overdue: MoneyOut
    reminders: dict[str, int] = Field(description="Ledger rows by status.")
    in_flight: int
    open_tasks: int
    writebacks: dict[str, int] = Field(description="Failed and pending write-backs.")
    policy: str
    broken_channels: list[BrokenChannelOut]
    invalid_timezones: list[str] = Field(description="Customers' external ids.")


class TemplateIn(ApiModel):
    """One part of a template, for this org (reminders/sending/overrides.py)."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_-]{0,99}$", description="A shipped name or a new one."
    )
    channel: ChannelOrAny = Field(
        default="*", description="The channel it applies to; * = every channel."
    )
    locale: Literal["zh_CN", "en_US"]
    part: Literal["subject", "text", "html", "short"]
    text: str = Field(min_length=1, max_length=20_000, description="Jinja, run in a sandbox.")


class TemplateOut(BaseModel):
    id: int
    name: str
    channel: str
    locale: str
    part: str
    text: str
    version: int
    created_by: str
    created_at: datetime


class TemplateList(BaseModel):
    items: list[TemplateOut]
