"""Fuzz every public parser that reads what another system or a person sends: random input and
mutations of real input may only raise the parser's own typed error, never anything else (which
the web app would answer with a 500 and a traceback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.spreadsheet import UncachedFormula
from dunlin.yamlsource import ConfigFileError
from mappings import load_mapping, parse_mapping, shipped_names
from mappings.transform import RowTransformer
from reminders.planning.policy_file import parse_policy
from reminders.sending.links import LinkError, LinkSigner, LinkTarget
from tests.fakes.sealing import seal
from usecases.payments import NoticeError, notice_reader, read_notice
from webhooks import receipt_parsers as parse
from webhooks.signatures import open_sealed, wx_aes_key

ROOT = Path(__file__).parents[3]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON as a provider might send it. Item 4 (input bounds of public endpoints, another branch)
# owns JSON nesting depth and ints beyond 64 bits: values stay shallow and within int64 here.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)


def mutated(seed: str, alphabet: list[str]) -> st.SearchStrategy[str]:
    """`seed` with a few slices deleted, duplicated or replaced by tokens of its grammar."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        text = seed
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(text)))
            end = draw(st.integers(at, min(len(text), at + 30)))
            kind = draw(st.sampled_from(["delete", "insert", "duplicate", "replace"]))
            token = draw(st.sampled_from(alphabet) | st.text(max_size=4))
            if kind == "delete":
                text = text[:at] + text[end:]
            elif kind == "insert":
                text = text[:at] + token + text[at:]
            elif kind == "duplicate":
                text = text[:end] + text[at:end] + text[end:]
            else:
                text = text[:at] + token + text[end:]
        return text

    return build()


# --- delivery receipts (webhooks/receipt_parsers.py) ----------------------------------------

RECEIPT_KEYS = [
    "biz_id",
    "out_id",
    "success",
    "err_code",
    "err_msg",
    "sid",
    "report_status",
    "errmsg",
    "description",
    "message_id",
    "status",
    "detail",
]
receipt_items = st.dictionaries(
    st.sampled_from(RECEIPT_KEYS) | st.text(max_size=8), json_values, max_size=6
)


@FUZZ
@given(payload=json_values | st.lists(receipt_items, max_size=4) | receipt_items)
def test_json_receipt_parsers_raise_only_payload_error(payload: Any) -> None:
    for parser in (parse.aliyun, parse.tencent, parse.generic):
        try:
            receipts = parser(payload)
        except parse.PayloadError:
            continue
        assert all(isinstance(r.message_id, str) and isinstance(r.detail, str) for r in receipts)


@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(["MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "ErrorCode"])
        | st.text(max_size=8),
        st.text(max_size=20),
        max_size=6,
    )
)
def test_twilio_form_raises_only_payload_error(form: dict[str, str]) -> None:
    try:
        receipts = parse.twilio(form)
    except parse.PayloadError:
        return
    assert all(r.message_id for r in receipts)


WX_XML = (
    "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><CreateTime>1395658920"
    "</CreateTime><MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>2001"
    "</MsgID><Status>failed:user block</Status><TaskId>t1</TaskId><EventKey>k</EventKey></xml>"
)
XML_TOKENS = [
    "<",
    ">",
    "</",
    "<![CDATA[",
    "]]>",
    "&amp;",
    "&#0;",
    "&x;",
    "<!DOCTYPE x [<!ENTITY x 'y'>]>",
    "<?xml version='1.0'?>",
    "<a>",
    "</a>",
    "<xml>",
    "\x00",
    "é",
    "&#x10FFFF;",
]


@FUZZ
@given(
    body=mutated(WX_XML, XML_TOKENS) | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
)
def test_xml_events_raise_only_payload_error(body: str) -> None:
    for raw in (body.encode("utf-8", "surrogatepass"), body.encode("latin-1", "replace")):
        try:
            fields = parse.xml_fields(raw)
        except parse.PayloadError:
            continue
        for events in (parse.wechat_event, parse.wecom_event):
            for receipt in events(fields):
                assert isinstance(receipt.message_id, str)


# --- customer-link tokens (reminders/sending/links.py) -------------------------------------------------

SIGNER = LinkSigner("fuzz-key-material")
GOOD = SIGNER.sign(LinkTarget(1, 2, 3))


@FUZZ
@given(token=st.text(max_size=120) | mutated(GOOD, [".", "-", "_", "=", "A", "0", "eJ", GOOD[:10]]))
def test_link_tokens_raise_only_link_error(token: str) -> None:
    try:
        target = SIGNER.read(token)
    except LinkError as exc:
        assert exc.code in ("bad_link", "link_expired")
    else:  # base64 skips characters outside its alphabet: such a token still names the same
        assert target == LinkTarget(1, 2, 3)


def test_a_link_signed_by_us_over_an_odd_payload_is_a_bad_link() -> None:
    """Only we sign, but a token from an older version (another payload shape) must read as a
    bad link, not crash the page."""
    for payload in ([1, 2], [1, 2, 3, 4], ["a", "b", "c"], [1.5e308 * 10, 1, 1], {"a": 1}, None):
        token = SIGNER._serializer.dumps(payload)
        try:
            SIGNER.read(token)
        except LinkError:
            continue


# --- payment webhook records through each source's mapping (usecases/payments.py) -------------

NOTICE_KEYS = [
    "id",
    "_id",
    "amount_residual",
    "payment_state",
    "state",
    "name",
    "amount_total",
    "FBillNo",
    "FID",
    "FALLAMOUNTFOR",
    "FRECEIVEAMOUNT",
    "dataId",
    "data",
    "record",
]
MAPPINGS_WITH_RECORDS = [n for n in shipped_names() if load_mapping(n).kind != "spreadsheet"]


@FUZZ
@given(
    name=st.sampled_from(MAPPINGS_WITH_RECORDS),
    record=st.dictionaries(
        st.sampled_from(NOTICE_KEYS) | st.text(max_size=10), json_values, max_size=8
    ),
)
def test_payment_records_raise_only_notice_error(name: str, record: dict[str, Any]) -> None:
    try:
        notice = read_notice(notice_reader(name), record)
    except NoticeError:
        return
    assert notice.external_id


# --- policy and mapping YAML (reminders/core/policy.py, mappings/) -------------------------------

YAML_TOKENS = [
    "&a ",
    "*a",
    "&b [*a, *a]",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "- ",
    "? ",
    "!!str ",
    "!!binary ",
    "!!python/object:os.system ",
    "!!timestamp ",
    "|",
    ">",
    "'",
    '"',
    "#",
    "\n",
    "\t",
    "  ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "<<: *a",
    "0x",
    "1e999",
    "2024-13-45",
    "~",
    "\\x00",
    "9" * 30,
    "\ufeff",
    "\x85",
]
POLICIES = sorted((ROOT / "reminders" / "policies").glob("*.yaml"))
SHIPPED_MAPPINGS = sorted((ROOT / "mappings").glob("*.yaml"))


def _seeds(paths: list[Path]) -> st.SearchStrategy[str]:
    return st.one_of(*(mutated(p.read_text(encoding="utf-8"), YAML_TOKENS) for p in paths))


@FUZZ
@given(text=_seeds(POLICIES) | st.text(max_size=200), tags=st.none() | st.just({"vip"}))
def test_policy_yaml_raises_only_config_errors(text: str, tags: set[str] | None) -> None:
    try:
        parse_policy(text, "p.yaml", known_tags=tags)
    except ConfigFileError as exc:
        assert exc.issues and all(isinstance(i.message, str) for i in exc.issues)


@FUZZ
@given(text=_seeds(SHIPPED_MAPPINGS) | st.text(max_size=200))
def test_mapping_yaml_raises_only_config_errors(text: str) -> None:
    try:
        parse_mapping(text, "m.yaml")
    except ConfigFileError as exc:
        assert exc.issues


# --- spreadsheet rows through the shipped spreadsheet mappings (mappings/transform.py) ------

cell_values = (
    st.none()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "",
            " ",
            "¥1,234.50",
            "1.234,5",
            "(100)",
            "-0",
            "1e400",
            "NaN",
            "inf",
            "2026-02-30",
            "31/12/2026",
            "2026年3月5日",
            "45000",
            "TRUE",
            "=A1*2",
        ]
    )
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.dates()
    | st.datetimes()
    | st.builds(UncachedFormula, st.just("=A1"), st.just("A1"))
)
SPREADSHEETS = [n for n in shipped_names() if load_mapping(n).kind == "spreadsheet"]
TRANSFORMERS = {n: RowTransformer(load_mapping(n)) for n in SPREADSHEETS}


@FUZZ
@given(name=st.sampled_from(SPREADSHEETS), data=st.data())
def test_spreadsheet_rows_give_a_result_or_field_errors(name: str, data: st.DataObject) -> None:
    transformer = TRANSFORMERS[name]
    columns = sorted(transformer.mapping.columns())
    row = data.draw(st.fixed_dictionaries({c: cell_values for c in columns}))
    result = transformer.transform(row)
    assert all(isinstance(e.message, str) for e in result.errors)
    json.dumps([e.message for e in result.errors])


# --- sealed envelopes (YonSuite events, WeChat/WeCom safe mode) ----------------------------

SEAL_KEY = wx_aes_key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C")
SEALED = seal(SEAL_KEY, b'{"type": "RECEIPT_AUDIT"}', b"app-key")


@FUZZ
@given(encrypt=st.text(max_size=80) | mutated(SEALED, ["=", "A", "+", "/", "====", SEALED[:16]]))
def test_sealed_envelopes_raise_only_value_error(encrypt: str) -> None:
    """Both endpoints turn ValueError into a 422; anything else would be a 500."""
    try:
        message, receiver = open_sealed(SEAL_KEY, encrypt)
    except ValueError:
        return
    assert isinstance(message, bytes) and isinstance(receiver, str)
