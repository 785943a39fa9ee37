"""The email policy's short-header fast path writes exactly what compat32 writes."""

from __future__ import annotations

from collections.abc import Callable
from email import policy

from hypothesis import given
from hypothesis import strategies as st

from reminders.sending.channels.smtp import _CRLF

COMPAT32 = policy.compat32.clone(linesep="\r\n")
NAMES = st.sampled_from(["Subject", "From", "To", "Message-ID", "X-A", "List-Unsubscribe"])
# Printable ASCII plus the characters folding cares about (spaces, tabs, CR, LF, ";", ",").
VALUES = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=120),
    # words and long tokens, so that lengths around the fold limit come up often
    st.lists(
        st.sampled_from([" ", "\t", "  ", ";", ",", "a", "x" * 20, "y" * 37]), max_size=12
    ).map("".join),
)


def outcome(fold: Callable[[str, str], object], name: str, value: str) -> object:
    """What folding gives, or the error it raises (compat32 refuses an embedded header)."""
    try:
        return fold(name, value)
    except Exception as exc:  # noqa: BLE001 - the comparison is the point
        return type(exc)


@given(NAMES, VALUES)
def test_every_header_folds_as_compat32_folds_it(name: str, value: str) -> None:
    assert outcome(_CRLF.fold, name, value) == outcome(COMPAT32.fold, name, value)
    assert outcome(_CRLF.fold_binary, name, value) == outcome(COMPAT32.fold_binary, name, value)


@given(NAMES, st.text(max_size=60))
def test_non_ascii_values_take_compat32s_path(name: str, value: str) -> None:
    assert outcome(_CRLF.fold_binary, name, value) == outcome(COMPAT32.fold_binary, name, value)


def test_the_headers_of_a_reminder_take_the_fast_path() -> None:
    assert _CRLF.fold("MIME-Version", "1.0") == "MIME-Version: 1.0\r\n"
    assert (
        _CRLF.fold("Subject", "Invoice INV-1 is overdue") == "Subject: Invoice INV-1 is overdue\r\n"
    )
