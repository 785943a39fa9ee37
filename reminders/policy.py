"""Policy model: tracks chosen by customer tier, each an ordered list of steps around the due date.

This is the foundation's policy; the policy issue adds tags/amount/currency matching, business
days, send windows and caps on top of the same model.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mappings.coerce import CHANNELS, TIERS

Tone = Literal["courtesy", "friendly", "firm", "final"]


class TaskSpec(BaseModel):
    """A follow-up task for the customer's salesperson."""

    model_config = ConfigDict(extra="forbid")

    summary: str = "Call {customer} about {count} overdue invoice(s), {total} / 联系{customer}催收"
    due_in_days: int = Field(default=2, ge=0)


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    offset_days: int = Field(description="Days relative to the due date; negative = before due.")
    channels: list[str] = Field(default_factory=list, description="Fallback order.")
    template: str = "reminder"
    tone: Tone = "friendly"
    task: TaskSpec | None = None

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel(s): {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _does_something(self) -> Step:
        if not self.channels and self.task is None:
            raise ValueError("a step needs channels, a task, or both")
        return self


class Track(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    tiers: list[str] | None = Field(default=None, description="None matches every tier.")
    steps: list[Step]

    @field_validator("tiers")
    @classmethod
    def _known_tiers(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(t not in TIERS for t in value):
            raise ValueError("tiers are A, B or C")
        return value

    @model_validator(mode="after")
    def _ordered_unique(self) -> Track:
        offsets = [s.offset_days for s in self.steps]
        names = [s.name for s in self.steps]
        if not self.steps:
            raise ValueError("a track needs at least one step")
        if offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
            raise ValueError("steps must be in strictly increasing offset_days order")
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique within a track")
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    tracks: list[Track] = Field(min_length=1, description="First match wins.")
    min_open_amount: dict[str, Decimal] = Field(default_factory=dict)
    send_hour: int = Field(
        default=9, ge=0, le=23, description="Local hour the day's messages are scheduled."
    )


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
