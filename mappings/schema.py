"""The schema of a mapping file, validated with pydantic (unknown keys are errors).

A mapping says, for one source flavour, where each Dunlin field comes from and how raw values
are translated. Field kinds are listed in CUSTOMER_FIELDS / RECEIVABLE_FIELDS.
"""

from __future__ import annotations

from typing import Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

# field name → (kind, required)
CUSTOMER_FIELDS: dict[str, tuple[str, bool]] = {
    "external_id": ("str", True),
    "name": ("str", True),
    "email": ("email", False),
    "mobile": ("phone", False),
    "wecom_userid": ("str", False),
    "wechat_openid": ("str", False),
    "dingtalk_userid": ("str", False),
    "push_token": ("str", False),
    "language": ("language", False),
    "timezone": ("timezone", False),
    "tier": ("tier", False),
    "tags": ("list", False),
    "salesperson_ref": ("str", False),
    "salesperson_name": ("str", False),
    "channel_preferences": ("channels", False),
    "opted_out_channels": ("channels", False),
    "do_not_remind": ("bool", False),
    "paused_until": ("date", False),
}
RECEIVABLE_FIELDS: dict[str, tuple[str, bool]] = {
    "external_id": ("str", True),
    "number": ("str", False),
    "currency": ("currency", False),
    "amount_total": ("amount", True),
    "amount_open": ("amount", False),
    "issued_on": ("date", False),
    "due_on": ("date", True),
    "status": ("status", False),
    "payment_url": ("url", False),
    "do_not_remind": ("bool", False),
    # API sources: which customer a receivable belongs to, the source's last change, the owner.
    "customer_external_id": ("str", False),
    "source_updated_at": ("datetime", False),
    "salesperson_ref": ("str", False),
}


class FieldSpec(BaseModel):
    """Where one field comes from: a spreadsheet column, a JMESPath `path` into an API record,
    or a constant `value`; then a value map (with a `fallback` for unmapped values), a default."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    path: str | None = None
    value: Any = None
    map: dict[str, Any] | None = None
    fallback: Any = None
    default: Any = None
    # Amounts only: a second path whose value is subtracted (planned − received = open).
    subtract: str | None = None

    @field_validator("path", "subtract")
    @classmethod
    def _valid_jmespath(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                jmespath.compile(value)
            except JMESPathError as exc:
                raise ValueError(f"not a JMESPath expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _has_origin(self) -> FieldSpec:
        origins = [o for o in (self.column, self.path, self.value) if o is not None]
        if len(origins) != 1:
            raise ValueError(
                "give exactly one of `column` (spreadsheet), `path` (API record, JMESPath) "
                "or `value` (a constant)"
            )
        return self


class _Section(BaseModel):
    """`name: 客户名称` is short for `name: {column: 客户名称}` in a spreadsheet mapping and
    for `name: {path: 客户名称}` in an API mapping (the validation context says which)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _expand(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            key = (info.context or {}).get("shorthand", "column")
            return {key: value}
        return value

    def specs(self) -> dict[str, FieldSpec]:
        return {name: spec for name, spec in self if spec is not None}


class CustomerSection(_Section):
    external_id: FieldSpec
    name: FieldSpec
    email: FieldSpec | None = None
    mobile: FieldSpec | None = None
    wecom_userid: FieldSpec | None = None
    wechat_openid: FieldSpec | None = None
    dingtalk_userid: FieldSpec | None = None
    push_token: FieldSpec | None = None
    language: FieldSpec | None = None
    timezone: FieldSpec | None = None
    tier: FieldSpec | None = None
    tags: FieldSpec | None = None
    salesperson_ref: FieldSpec | None = None
    salesperson_name: FieldSpec | None = None
    channel_preferences: FieldSpec | None = None
    opted_out_channels: FieldSpec | None = None
    do_not_remind: FieldSpec | None = None
    paused_until: FieldSpec | None = None


class ReceivableSection(_Section):
    external_id: FieldSpec
    number: FieldSpec | None = None
    currency: FieldSpec | None = None
    amount_total: FieldSpec
    amount_open: FieldSpec | None = None
    issued_on: FieldSpec | None = None
    due_on: FieldSpec
    status: FieldSpec | None = None
    payment_url: FieldSpec | None = None
    do_not_remind: FieldSpec | None = None
    customer_external_id: FieldSpec | None = None
    source_updated_at: FieldSpec | None = None
    salesperson_ref: FieldSpec | None = None


class SourceSettings(BaseModel):
    """How to read the source; for spreadsheets, how the file is laid out."""

    model_config = ConfigDict(extra="forbid")

    sheet: str | None = None
    header_row: int = Field(default=1, ge=1)
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    date_formats: list[str] = Field(default_factory=lambda: ["YMD"])
    decimal_separator: Literal[".", ","] = "."
    region: str = "CN"
    timezone: str = "Asia/Shanghai"
    currency: str | None = None


class Mapping(BaseModel):
    """A spreadsheet mapping; API sources extend it with a kind-specific `source` section."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    kind: Literal["spreadsheet"]
    name: str
    description: str = ""
    settings: SourceSettings = Field(default_factory=SourceSettings)
    customer: CustomerSection
    receivable: ReceivableSection | None = None

    def columns(self) -> set[str]:
        sections = [self.customer] + ([self.receivable] if self.receivable else [])
        return {s.column for sec in sections for s in sec.specs().values() if s.column}

    def sections(self) -> dict[str, _Section]:
        found: dict[str, _Section] = {"customers": self.customer}
        if self.receivable is not None:
            found["receivables"] = self.receivable
        return found
