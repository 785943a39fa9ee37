"""Policy model: tracks chosen by tier, tags, amount, currency or source (first match wins), each
an ordered list of steps timed around the due date. Written in YAML (`load_policy`), validated
here; errors name the field path and the YAML line.

Validation context (optional): `known_tags` — the tags an org's customers carry; a track that
matches on a tag outside it (and outside the policy's own `known_tags`) is an error.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from dunlin.vocabulary import CHANNELS, TIERS
from reminders.core.schedule import Caps, SendWindows

Tone = Literal["courtesy", "friendly", "firm", "final"]
ChannelChoice = str | list[str]  # a name, or a group sent in parallel


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskSpec(_Strict):
    """A follow-up task. assignee: salesperson | source_responsible | user:NAME | role:NAME."""

    assignee: str = "salesperson"
    summary: str = "Call {customer} about {count} overdue invoice(s), {total} / 联系{customer}催收"
    due_in_business_days: int = Field(default=2, ge=0)

    @field_validator("assignee")
    @classmethod
    def _assignee(cls, value: str) -> str:
        if value in ("salesperson", "source_responsible") or value.startswith(("user:", "role:")):
            return value
        raise ValueError(
            f"unknown assignee {value!r} (salesperson, source_responsible, user:NAME, role:NAME)"
        )


class Repeat(_Strict):
    """Repeat a step every N days, until the oldest invoice is M days overdue or K times."""

    every_days: int = Field(ge=1)
    until_day: int | None = None
    times: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _bounded(self) -> Repeat:
        if self.until_day is None and self.times is None:
            raise ValueError("give until_day or times, so a repeat ends")
        return self


def check_channels(value: list[ChannelChoice]) -> list[ChannelChoice]:
    names = [c for choice in value for c in ([choice] if isinstance(choice, str) else choice)]
    unknown = [c for c in names if c not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown channel(s): {', '.join(unknown)} (known: {', '.join(CHANNELS)})")
    if len(set(names)) != len(names):
        raise ValueError("a channel appears twice in one step")
    return value


def check_template(value: str, known: set[str] | None) -> str:
    """`known` comes in the validation context from whoever read the policy's text (the
    templates an org can use); a policy built in code is not checked here."""
    if known is not None and value not in known:
        raise ValueError(f"unknown template {value!r} (known: {', '.join(sorted(known))})")
    return value


class _Sends(_Strict):
    """What sends a message: its channels (fallback order; a list = parallel) and template
    must be known."""

    @field_validator("channels", check_fields=False)
    @classmethod
    def _known_channels(cls, value: list[ChannelChoice]) -> list[ChannelChoice]:
        return check_channels(value)

    @field_validator("template", check_fields=False)
    @classmethod
    def _known_template(cls, value: str, info: ValidationInfo) -> str:
        return check_template(value, (info.context or {}).get("templates"))


class Step(_Sends):
    name: str
    offset_days: int | None = Field(
        default=None, description="Relative to the due date; negative = before."
    )
    after_previous_days: int | None = Field(
        default=None, ge=1, description="Relative to the previous step."
    )
    business_days: bool = False
    channels: list[ChannelChoice] = Field(
        default_factory=list, description="Fallback order; a list = parallel."
    )
    template: str = "reminder"
    tone: Tone = "friendly"
    task: TaskSpec | None = None
    repeat: Repeat | None = None

    @model_validator(mode="after")
    def _timed_and_useful(self) -> Step:
        if (self.offset_days is None) == (self.after_previous_days is None):
            raise ValueError(
                "give exactly one of offset_days (from the due date) or after_previous_days"
            )
        if not self.channels and self.task is None:
            raise ValueError("a step needs channels, a task, or both")
        return self

    @cached_property
    def groups(self) -> tuple[tuple[str, ...], ...]:
        """The channel groups in fallback order, each one channel or several in parallel
        (built once: the planner asks for every decision)."""
        return tuple((c,) if isinstance(c, str) else tuple(c) for c in self.channels)

    def channel_groups(self) -> list[tuple[str, ...]]:
        return list(self.groups)


class Match(_Strict):
    """All given conditions must hold; tags match if the customer has any of them."""

    tiers: list[str] | None = None
    tags: list[str] | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    currencies: list[str] | None = None
    sources: list[str] | None = None

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(t not in TIERS for t in value):
            raise ValueError("tiers are A, B or C")
        return value

    @field_validator("tags")
    @classmethod
    def _known_tags(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        known = (info.context or {}).get("known_tags")
        unknown = sorted(set(value or []) - set(known)) if known is not None else []
        if unknown:
            raise ValueError(
                f"unknown tag(s): {', '.join(unknown)} (no customer has them, and the policy's "
                "known_tags does not list them) / 未知标签"
            )
        return value


class Track(_Strict):
    name: str
    match: Match | None = Field(
        default=None, description="None: the default track, matches everyone."
    )
    veto_hours: int | None = Field(
        default=None, ge=1, description="Task the salesperson first; send after N hours."
    )
    steps: list[Step] = Field(min_length=1)

    @cached_property
    def fixed_offsets(self) -> tuple[tuple[int, ...], tuple[str, ...]] | None:
        """(offsets, names) when every step is a plain calendar-day offset from the due date —
        the common case, which the planner's pre-filter answers with a bisect."""
        if any(s.offset_days is None or s.business_days or s.repeat for s in self.steps):
            return None
        return tuple(s.offset_days or 0 for s in self.steps), tuple(s.name for s in self.steps)

    @model_validator(mode="after")
    def _ordered(self) -> Track:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique within a track")
        if self.steps[0].offset_days is None:
            raise ValueError("the first step must be timed from the due date (offset_days)")
        absolute = [s.offset_days for s in self.steps if s.offset_days is not None]
        if absolute != sorted(absolute) or len(set(absolute)) != len(absolute):
            raise ValueError("offset_days must increase from step to step")
        if any(s.repeat for s in self.steps[:-1]):
            raise ValueError("only the last step of a track may repeat")
        return self


THANK_YOU_STEP = "thank-you"


class ThankYou(_Sends):
    """One thank-you message when an invoice Dunlin reminded about is paid; off unless the
    policy has this section. Sent in the policy's send windows on the first usable channel."""

    channels: list[ChannelChoice] = Field(min_length=1, description="Fallback order.")
    template: str = "thank_you"
    reminded_within_days: int = Field(
        default=60, ge=1, description="Only invoices reminded this recently are thanked."
    )

    def as_step(self) -> Step:
        return Step(
            name=THANK_YOU_STEP,
            offset_days=0,
            channels=self.channels,
            template=self.template,
            tone="courtesy",
        )


class LiveCheck(_Strict):
    """Ask the source system for each invoice's balance right before its reminder is sent
    (ARCHITECTURE invariant 2), for sources that can be asked cheaply: Odoo and Kingdee. Off
    unless the policy has this section; costs one source call per batch of 20 messages."""

    when_unreachable: Literal["hold", "send"] = Field(
        default="hold",
        description="hold: wait and ask again later; send: trust the last sync.",
    )
    hold_minutes: int = Field(default=15, ge=1, le=24 * 60)


class CapsSpec(_Strict):
    """Most reminders one customer gets per local day and per week (Monday–Sunday)."""

    per_day: int | None = Field(default=1, ge=1)
    per_week: int | None = Field(default=3, ge=1)

    def to_caps(self) -> Caps:
        return Caps(self.per_day, self.per_week)


class Policy(_Strict):
    name: str
    description: str = ""
    tracks: list[Track] = Field(min_length=1, description="First match wins.")
    min_open_amount: dict[str, Decimal] = Field(default_factory=dict)
    calendar: str | None = Field(
        default="CN", description="holidays country code; null = Mon–Fri only."
    )
    send_windows: dict[str, str] = Field(default_factory=lambda: {"mon-fri": "09:00-18:00"})
    spread_minutes: int = Field(default=30, ge=0, le=240)
    caps: CapsSpec = Field(default_factory=CapsSpec)
    known_tags: list[str] = Field(default_factory=list)
    thank_you: ThankYou | None = None
    live_check: LiveCheck | None = None

    @field_validator("send_windows")
    @classmethod
    def _windows(cls, value: dict[str, str]) -> dict[str, str]:
        SendWindows.parse(value)
        return value

    @field_validator("calendar")
    @classmethod
    def _calendar(cls, value: str | None) -> str | None:
        import holidays

        if value is not None and value not in holidays.list_supported_countries():
            raise ValueError(f"no holiday calendar for {value!r} (an ISO country code such as CN)")
        return value

    @model_validator(mode="after")
    def _reachable_tracks(self) -> Policy:
        defaults = [i for i, t in enumerate(self.tracks) if t.match is None]
        if defaults and defaults[0] != len(self.tracks) - 1:
            raise ValueError(
                f"track {self.tracks[defaults[0]].name!r} matches everyone, so later tracks never run"
            )
        return self

    def windows(self) -> SendWindows:
        return SendWindows.parse(self.send_windows)


def default_policy() -> Policy:
    """Courtesy 3 days before due, then +3, +10 and +30 days; the last also tasks the salesperson."""
    return Policy(
        name="default",
        tracks=[
            Track(
                name="standard",
                steps=[
                    Step(
                        name="pre-due", offset_days=-3, channels=["email", "wecom"], tone="courtesy"
                    ),
                    Step(
                        name="overdue-3",
                        offset_days=3,
                        channels=["email", "sms", "wecom"],
                        tone="friendly",
                    ),
                    Step(
                        name="overdue-10",
                        offset_days=10,
                        channels=["email", "sms", "wecom"],
                        tone="firm",
                    ),
                    Step(
                        name="overdue-30",
                        offset_days=30,
                        channels=["sms", "email", "wecom"],
                        tone="final",
                        task=TaskSpec(),
                    ),
                ],
            )
        ],
    )
