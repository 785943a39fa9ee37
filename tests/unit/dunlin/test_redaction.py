"""The one redaction function: every secret shape a request can carry is masked wherever it
sits in a line, and ordinary text is left alone."""

from __future__ import annotations

import logging
import string

from hypothesis import given
from hypothesis import strategies as st

from dunlin.crypto import generate_key
from dunlin.log import RedactingFilter, redact, redact_path
from reminders.sending.links import LinkSigner, LinkTarget, receipt_path_token

# What our secrets are made of: token_urlsafe, hex digests, itsdangerous tokens, API tokens.
secret_text = st.text(string.ascii_letters + string.digits + "-_", min_size=16, max_size=64)
ids = st.integers(min_value=1, max_value=2**63 - 1)
prefixes = st.sampled_from(["", "https://pay.example.com", "http://10.0.0.5:8000"])
framing = st.sampled_from(['"POST {} HTTP/1.1" 200', "Exception on {} [POST]", "url={}", "{}"])


@given(secret=secret_text, source=ids, prefix=prefixes, frame=framing)
def test_odoo_hook_path_secret_is_masked(secret, source, prefix, frame):
    line = frame.format(f"{prefix}/hooks/odoo/{source}/{secret}")
    masked = redact(line)
    assert secret not in masked
    assert f"/hooks/odoo/{source}/***" in masked


@given(token=secret_text, kind=st.sampled_from("csu"), action=st.sampled_from(["", "/paid"]))
def test_customer_link_tokens_are_masked(token, kind, action):
    line = f'1.2.3.4 - - "GET /{kind}/{token}{action}?lang=en HTTP/1.1" 302 "-"'
    assert token not in redact(line)
    assert token not in redact_path(f"/{kind}/{token}{action}")


@given(channel=ids, signature=secret_text, echostr=secret_text)
def test_receipt_token_and_query_signatures_are_masked(channel, signature, echostr):
    key = generate_key()
    token = receipt_path_token(key, channel)
    url = f"/hooks/receipts/{channel}/{token}?signature={signature}&timestamp=1&echostr={echostr}"
    masked = redact(url)
    assert token not in masked and signature not in masked and echostr not in masked
    assert "timestamp=1" in masked  # what is not secret stays readable


def test_real_link_tokens_are_masked_even_outside_a_path():
    token = LinkSigner(generate_key()).sign(LinkTarget(1, 22, 333))
    assert token not in redact(f"could not read {token} for customer")


@given(token=secret_text)
def test_credentials_in_headers_are_masked(token):
    for line in (
        f"Authorization: Bearer {token}",
        f"authorization=Basic {token}",
        f"Cookie: session={token}; other=1",
        f"token dln_{token}",
    ):
        assert token not in redact(line), line


def test_ordinary_text_is_left_alone():
    for line in (
        "psycopg.errors.NumericValueOutOfRange: integer out of range",
        "GET /api/v1/customers?after=10&limit=50 HTTP/1.1",
        "see docs/s/foo and a/c/b",
        "status_code=500 idempotency_key=abc",
        "/hooks/push/12",
    ):
        assert redact(line) == line


def test_redact_path_masks_any_long_opaque_segment():
    assert redact_path("/hooks/new/7/" + "x" * 30) == "/hooks/new/7/xxxx***"
    assert redact_path("/api/v1/openapi.json") == "/api/v1/openapi.json"


def test_filter_masks_tracebacks_that_echo_a_url(caplog):
    token = LinkSigner(generate_key()).sign(LinkTarget(1, 2, 3))
    logger = logging.getLogger("test.redaction")
    caplog.handler.addFilter(RedactingFilter())
    try:
        raise ValueError(f"cannot open https://pay.example.com/s/{token}")
    except ValueError:
        logger.exception("Exception on /s/%s [GET]", token)
    assert caplog.records and token not in caplog.text
    assert "/s/***" in caplog.text
