"""Mappings for API sources (Odoo, Kingdee K3Cloud, generic REST): where to read, how to page.

Each kind has its own `source:` section. Field specs use JMESPath `path`s into the records the
connector returns; the connector requests exactly the root fields those paths name.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from mappings.schema import Mapping, ReceivableSection


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reading(_Strict):
    """Settings every API source shares: page size, pacing, retries, incremental overlap."""

    page_size: int = Field(default=500, ge=1, le=10_000)
    rate_limit: float = Field(default=5.0, ge=0, description="calls per second; 0 = no limit")
    timeout_seconds: float = Field(default=60.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10)
    overlap_minutes: int = Field(default=15, ge=0)
    reconcile_every_hours: int = Field(default=24, ge=1)
    # Re-read every open receivable by id at each reconcile, for sources where a payment may
    # leave the modified date alone (K3Cloud write-offs, a GUESS): open amounts stay current.
    reconcile_rereads_open: bool = False


# ---- Odoo -------------------------------------------------------------------------------------


class OdooLookup(_Strict):
    """A many2one read as a bare id, completed from a cached read of its model: the record's
    `currency_id: 7` becomes `currency_id: {id: 7, name: "CNY"}`."""

    model: str
    field: str = "name"


class OdooEntity(_Strict):
    model: str
    domain: list[Any] = Field(default_factory=list)
    # Fields that some versions lack (e.g. res.partner.mobile is gone in 19): skipped if absent.
    optional_fields: list[str] = Field(default_factory=list)
    # Extra fields to read beyond those the mapping's paths name.
    extra_fields: list[str] = Field(default_factory=list)
    # The "still open" subset, listed by id for the periodic reconcile.
    open_domain: list[Any] | None = None
    lookups: dict[str, OdooLookup] = Field(default_factory=dict)


class OdooWriteback(_Strict):
    model: str = "account.move"
    message_type: str = "comment"
    subtype_xmlid: str = "mail.mt_note"
    activity_type_xmlid: str = "mail.mail_activity_data_todo"
    # The invoice's salesperson field, then the partner's, then this user.
    invoice_user_field: str = "invoice_user_id"
    partner_user_field: str = "user_id"
    partner_field: str = "partner_id"
    fallback_user_id: int | None = None


class OdooSource(Reading):
    protocol: Literal["jsonrpc", "xmlrpc", "json2"] = "jsonrpc"
    context: dict[str, Any] = Field(default_factory=lambda: {"active_test": False})
    customers: OdooEntity
    receivables: OdooEntity
    writeback: OdooWriteback = Field(default_factory=OdooWriteback)


# ---- Kingdee K3Cloud -----------------------------------------------------------------------------


class KingdeePlanLines(_Strict):
    """AR bills come back one row per receivable-plan line; rows of a bill are folded into one
    record whose `open_field` = Σ(plus − minus) over its lines."""

    plus: str = "FPAYAMOUNTFOR"
    minus: str = "FWRITTENOFFAMOUNTFOR_P"
    entry_key: str = "FEntityPlan_FEntryID"
    open_field: str = "OpenAmount"


class KingdeeEntity(_Strict):
    form_id: str
    key: str = "FID"
    filter: str = ""
    modified_field: str = "FModifyDate"
    open_filter: str | None = None
    extra_fields: list[str] = Field(default_factory=list)
    plan_lines: KingdeePlanLines | None = None


class KingdeeFollowUp(_Strict):
    """A custom follow-up form (there is no standard one): form id and field keys per tenant."""

    form_id: str
    customer_field: str
    bill_no_field: str
    text_field: str
    date_field: str | None = None
    user_field: str | None = None
    status_field: str | None = None
    closed_value: str = "closed"
    auto_submit_and_audit: bool = False


class KingdeeSource(Reading):
    page_size: int = Field(default=2000, ge=1, le=10_000)
    lcid: int = 2052
    customers: KingdeeEntity
    receivables: KingdeeEntity
    follow_up: KingdeeFollowUp | None = None


# ---- generic REST -------------------------------------------------------------------------------


class AuthScheme(_Strict):
    """One way of authorising requests; secrets come from the source's encrypted credentials.
    Each scheme has its own model with exactly its fields, chosen by `type` (RestAuth)."""


class VendorTokenAuth(AuthScheme):
    # Renew the vendor's session token this many seconds before it expires.
    refresh_margin: int = Field(default=300, ge=0)


class NoAuth(AuthScheme):
    type: Literal["none"]


class BearerAuth(AuthScheme):
    """A static token (credential `token`) in a header, after a prefix."""

    type: Literal["bearer"] = "bearer"
    header: str = "Authorization"
    prefix: str = "Bearer "


class HeaderAuth(AuthScheme):
    """A static token (credential `token`) as the whole value of a header (an API key)."""

    type: Literal["header"]
    header: str = "Authorization"


class QueryAuth(AuthScheme):
    """A static token (credential `token`) as a query parameter."""

    type: Literal["query"]
    query_param: str = "access_token"


class TokenEndpointAuth(AuthScheme):
    """A token fetched from `token_url` (OAuth2 client credentials or alike), sent as a
    bearer header; `token_body` may use credentials as `{client_id}` placeholders."""

    type: Literal["token_endpoint"]
    header: str = "Authorization"
    prefix: str = "Bearer "
    token_url: str  # relative to the source URL, or absolute
    token_body: dict[str, Any] = Field(
        default_factory=lambda: {"client_id": "{client_id}", "client_secret": "{client_secret}"}
    )
    token_path: str = "access_token"
    expires_path: str | None = "expires_in"


class HmacAuth(AuthScheme):
    """HMAC-SHA256 (credential `hmac_secret`) over `timestamp.body`, with the timestamp."""

    type: Literal["hmac"]
    hmac_header: str = "X-Signature"
    hmac_timestamp_header: str = "X-Timestamp"


class XbongbongAuth(AuthScheme):
    """销帮帮: a `sign` header over the body and credential `token`; `corpid` in the body."""

    type: Literal["xbongbong"]


class YonSuiteAuth(VendorTokenAuth):
    """用友 YonSuite: a signed token request, the access token in the query or a header."""

    type: Literal["yonsuite"]
    token_url: str | None = None  # self-built apps; `{setting}` placeholders allowed
    # The access token in the query (`access_token=`) or in an `access_token` header.
    token_in: Literal["query", "header"] = "query"
    # A self-built app (app_key/app_secret) or an ISV suite app (suite_key/suite_secret and
    # the buying tenant's tenant_id), whose token comes from suite_token_url. A source's
    # `app_type` setting overrides this.
    app_type: Literal["self_built", "suite"] = "self_built"
    suite_token_url: str | None = None


class FxiaokeAuth(VendorTokenAuth):
    """纷享销客: a corpAccessToken from `token_url`, carried in every JSON body."""

    type: Literal["fxiaoke"]
    token_url: str


class KingdeeJdyAuth(VendorTokenAuth):
    """金蝶云星辰: gateway-signed calls and an app-token from two signed token calls."""

    type: Literal["kingdee_jdy"]


AUTH_MODELS: dict[str, type[AuthScheme]] = {
    "none": NoAuth,
    "bearer": BearerAuth,
    "header": HeaderAuth,
    "query": QueryAuth,
    "token_endpoint": TokenEndpointAuth,
    "hmac": HmacAuth,
    "xbongbong": XbongbongAuth,
    "yonsuite": YonSuiteAuth,
    "fxiaoke": FxiaokeAuth,
    "kingdee_jdy": KingdeeJdyAuth,
}


def _auth_type(value: Any) -> Any:
    """The scheme of an `auth:` section; `bearer` when it names none (as it always did)."""
    if isinstance(value, dict):
        return value.get("type", "bearer")
    return getattr(value, "type", None)


RestAuth = Annotated[
    Annotated[NoAuth, Tag("none")]
    | Annotated[BearerAuth, Tag("bearer")]
    | Annotated[HeaderAuth, Tag("header")]
    | Annotated[QueryAuth, Tag("query")]
    | Annotated[TokenEndpointAuth, Tag("token_endpoint")]
    | Annotated[HmacAuth, Tag("hmac")]
    | Annotated[XbongbongAuth, Tag("xbongbong")]
    | Annotated[YonSuiteAuth, Tag("yonsuite")]
    | Annotated[FxiaokeAuth, Tag("fxiaoke")]
    | Annotated[KingdeeJdyAuth, Tag("kingdee_jdy")],
    Discriminator(
        _auth_type,
        custom_error_type="auth_type",
        custom_error_message=f"auth.type must be one of {', '.join(AUTH_MODELS)}",
        custom_error_context={"discriminator": "type"},  # the error's line: that of `type`
    ),
]


class RestPaging(_Strict):
    """page: page numbers; offset: row offsets; cursor: the next cursor from the response
    (`next`, a JMESPath) or from the last record (`last_record:<path>`)."""

    type: Literal["page", "offset", "cursor", "none"] = "cursor"
    where: Literal["query", "body"] = "body"
    param: str = "data_id"
    size_param: str = "limit"
    start: int = 1
    next: str = "last_record:_id"
    # Page counts some APIs return: keep going until the last page even when a page comes
    # back short (Kingdee JDY silently cuts pages above 100 but counts pages by the size asked).
    total_pages: str | None = None
    max_size: int | None = None


class RestEntity(_Strict):
    """One list endpoint. Strings in `path`, `body` and `query` may hold `{setting}`
    placeholders (from the source's settings) and `{since}` (the incremental lower bound)."""

    path: str
    method: Literal["GET", "POST"] = "POST"
    body: dict[str, Any] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    # Added to the body (or query) when reading changes since the last run.
    since_body: dict[str, Any] | None = None
    # strftime format of {since}, or `epoch` / `epoch_ms` for Unix seconds / milliseconds.
    since_format: str = "%Y-%m-%dT%H:%M:%S.000Z"
    records: str = "data"
    id_field: str = "_id"
    # Fields a mapping path may read but the source need not have (`a || b` fallbacks).
    optional_fields: list[str] = Field(default_factory=list)
    modified_field: str | None = None
    paging: RestPaging = Field(default_factory=RestPaging)


class RestWrite(_Strict):
    """A write endpoint; body strings may use {external_id}, {text}, {summary}, {due_on},
    {task_id} and source settings."""

    path: str
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    body: dict[str, Any] = Field(default_factory=dict)
    id_path: str = "data._id"


class RestDescribe(_Strict):
    """A metadata call `sources test` makes to list an object's fields (Xbongbong form/get,
    Fxiaoke object/describe): `fields` is a JMESPath to the field names in its answer, `prefix`
    how the mapping's paths reach those fields in a record (e.g. `data.`)."""

    path: str
    method: Literal["GET", "POST"] = "POST"
    body: dict[str, Any] = Field(default_factory=dict)
    fields: str
    prefix: str = ""
    # Display companions the describe call does not list (Fxiaoke's `owner__r` for `owner`).
    companion_suffix: str | None = None


class RestPush(_Strict):
    """Data-change pushes the source sends to `/hooks/push/<source id>` (docs/webhooks.md).
    A push names a record, not its new values, so it triggers an incremental sync of the
    entities its `type` maps to; periodic sync stays on (batch edits push nothing).

    `secret` and `receive_id` name credentials: Xbongbong signs with its `webhookToken`,
    YonSuite with the app secret, and seals events for the app key (a suite app: the suite's).
    A list names alternatives; the first credential the source has is used."""

    scheme: Literal["xbongbong", "yonsuite"]
    secret: str | list[str]
    receive_id: str | list[str] | None = None
    # JMESPaths into the (decrypted) event; the vendors' event fields are partly GUESS.
    type_path: str = "type"
    event_id_path: str | None = None
    # Event type (trimmed) → entities to sync; other types are logged and acknowledged.
    entities: dict[str, list[Literal["customers", "receivables"]]]
    tolerance_seconds: int = Field(default=300, ge=30)
    reply: str | None = None  # a literal body some vendors expect (YonSuite: `success`)

    @staticmethod
    def names(names: str | list[str] | None) -> list[str]:
        return [] if names is None else [names] if isinstance(names, str) else list(names)

    @classmethod
    def first(cls, credentials: dict[str, Any], names: str | list[str] | None) -> str | None:
        """The first of the named credentials the source has (a YonSuite source is either a
        self-built app with app_secret or a suite app with suite_secret)."""
        for name in cls.names(names):
            value = credentials.get(name)
            if isinstance(value, str) and value:
                return value
        return None


class RestSource(Reading):
    auth: RestAuth = Field(default_factory=BearerAuth)
    # Envelope of APIs that answer HTTP 200 with an error code: `ok` is a JMESPath that is
    # true on success; `message` where the error text is; `auth_failed` true on refused auth.
    ok: str | None = None
    message: str = "msg"
    auth_failed: str | None = None
    customers: RestEntity
    receivables: RestEntity
    describe: dict[Literal["customers", "receivables"], RestDescribe] = Field(default_factory=dict)
    note: RestWrite | None = None
    task: RestWrite | None = None
    close_task: RestWrite | None = None
    push: RestPush | None = None


class _ApiMapping(Mapping):
    @model_validator(mode="after")
    def _receivables_name_their_customer(self) -> _ApiMapping:
        receivable: ReceivableSection | None = self.receivable
        if receivable is not None and receivable.customer_external_id is None:
            raise ValueError("receivable.customer_external_id is required for an API source")
        return self


class OdooMapping(_ApiMapping):
    kind: Literal["odoo"]  # type: ignore[assignment]  # narrows Mapping.kind; pydantic checks it
    source: OdooSource


class KingdeeMapping(_ApiMapping):
    kind: Literal["kingdee"]  # type: ignore[assignment]  # narrows Mapping.kind; pydantic checks it
    source: KingdeeSource


class RestMapping(_ApiMapping):
    kind: Literal["rest"]  # type: ignore[assignment]  # narrows Mapping.kind; pydantic checks it
    source: RestSource


API_MAPPINGS: dict[str, type[Mapping]] = {
    "odoo": OdooMapping,
    "kingdee": KingdeeMapping,
    "rest": RestMapping,
}
