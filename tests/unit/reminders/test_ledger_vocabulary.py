"""The reminder statuses are spelled in one place (reminders/core/statuses.py) and their sets
agree with one another.

The scan reads the source with `ast` and fails on a reminder status written as a string
literal where the ledger's rules are: a comparison or `in_` on `Reminder.status`, a
`.values(status=...)` of an UPDATE/INSERT on Reminder, an assignment to a `.status`
attribute, a `"status": ...` item, a transition recorded by name, a tuple of statuses, a
lookup in a mapping named `*status*`, and SQL text comparing a `status` column or naming a
`reminder.<status>` event. Receivables, tasks and write-backs share
two words with reminders (`cancelled`, `failed`); where the table is not known those two are
not counted, so `Receivable.status == "cancelled"` passes and `Reminder.status == "cancelled"`
does not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reminders import ledger
from reminders.core import statuses as s
from reminders.sending.receipts import advance

ROOT = Path(__file__).resolve().parents[3]
SCANNED = ("reminders", "usecases", "webhooks", "cli", "sync")
HOME = Path("reminders/core/statuses.py")
WORDS = frozenset(s.ALL)
# Also a receivable's, a task's or a write-back's status: counted only where the row is a Reminder.
SHARED = frozenset({s.CANCELLED, s.FAILED})
REMINDER_ONLY = WORDS - SHARED
TRANSITION_CALLS = {"record_transitions", "transition_row"}
SQL_COMPARE = re.compile(r"\bstatus\s*(?:=|<>|!=)\s*'(\w+)'", re.IGNORECASE)
SQL_IN = re.compile(r"\bstatus\s+(?:NOT\s+)?IN\s*\(([^)]*)\)", re.IGNORECASE)
SQL_EVENT = re.compile(r"'reminder\.(\w+)'")


def _literals(node: ast.AST) -> list[str]:
    """String constants of `node` itself or of a tuple/list/set literal it is."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [v for item in node.elts for v in _literals(item)]
    return []


def _is_reminder_status(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "status"
        and isinstance(node.value, ast.Name)
        and node.value.id == "Reminder"
    )


def _on_reminder(call: ast.Call) -> bool:
    """A `.values(...)` whose chain starts from update(Reminder) or insert(Reminder)."""
    node: ast.AST = call.func
    while True:
        if isinstance(node, ast.Call):
            if (
                isinstance(node.func, ast.Name)
                and node.func.id in ("update", "insert")
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id == "Reminder"
            ):
                return True
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        else:
            return False


def _names_statuses(node: ast.AST) -> bool:
    """`by_status[...]`, `by_status.get(...)`: a mapping keyed by status."""
    inner = getattr(node, "value", None)
    return isinstance(inner, ast.Name) and "status" in inner.id.lower()


def _sql_words(text: str) -> list[str]:
    words = SQL_COMPARE.findall(text) + SQL_EVENT.findall(text)
    for inside in SQL_IN.findall(text):
        words += re.findall(r"'(\w+)'", inside)
    return words


class _Scan(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []

    def _flag(self, node: ast.AST, words: list[str], allowed: frozenset[str]) -> None:
        for word in words:
            if word in allowed:
                self.found.append((getattr(node, "lineno", 0), word))

    def visit_Compare(self, node: ast.Compare) -> None:
        sides = [node.left, *node.comparators]
        literals = [w for side in sides for w in _literals(side)]
        if any(_is_reminder_status(side) for side in sides):
            self._flag(node, literals, WORDS)
        elif any(isinstance(side, ast.Attribute) and side.attr == "status" for side in sides):
            self._flag(node, literals, REMINDER_ONLY)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr in ("in_", "not_in") and _is_reminder_status(func.value):
                self._flag(node, [w for a in node.args for w in _literals(a)], WORDS)
            if func.attr == "values":
                allowed = WORDS if _on_reminder(node) else REMINDER_ONLY
                for keyword in node.keywords:
                    if keyword.arg == "status":
                        self._flag(node, _literals(keyword.value), allowed)
        if _names_statuses(func) and getattr(func, "attr", None) == "get" and node.args:
            self._flag(node, _literals(node.args[0]), REMINDER_ONLY)
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in TRANSITION_CALLS:
            for arg in node.args:
                for part in ast.walk(arg):
                    if isinstance(part, ast.Constant):
                        self._flag(node, _literals(part), WORDS)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if isinstance(node.value, ast.Tuple | ast.List | ast.Set):  # a set of statuses, spelled
            words = _literals(node.value)
            if words and set(words) <= WORDS and set(words) & REMINDER_ONLY:
                self._flag(node, words, WORDS)
        for target in node.targets:
            pairs: list[tuple[ast.AST, ast.AST]] = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts, strict=False))
            for left, right in pairs:
                if isinstance(left, ast.Attribute) and left.attr == "status":
                    self._flag(node, _literals(right), WORDS)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if _names_statuses(node):
            self._flag(node, _literals(node.slice), REMINDER_ONLY)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "status":
                self._flag(node, _literals(value), REMINDER_ONLY)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self._flag(node, _sql_words(node.value), WORDS)


def offences(source: str) -> list[tuple[int, str]]:
    scan = _Scan()
    scan.visit(ast.parse(source))
    return scan.found


def scan_tree(root: Path) -> list[str]:
    out = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            relative = path.relative_to(root)
            if relative == HOME:
                continue
            for line, word in offences(path.read_text(encoding="utf-8")):
                out.append(f"{relative}:{line}: {word!r}")
    return out


def test_no_reminder_status_is_spelled_outside_the_statuses_module():
    found = scan_tree(ROOT)
    assert not found, "use reminders.core.statuses instead of:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'q.where(Reminder.status == "sending")',
        'q.where(Reminder.status != "cancelled")',
        'q.where(Reminder.status.in_(("planned", "queued")))',
        'update(Reminder).where(x).values(status="cancelled", error=e)',
        'update(Reminder).values(status="planned")',
        'row.status, row.error = "failed", why',
        'row.status = "uncertain"',
        'rows = [{"status": "planned", "id": 1}]',
        'record_transitions(session, org, [(i, "queued", job) for i in taken])',
        'transition_row(org, now, i, "cancelled", why)',
        "SQL = \"UPDATE reminders SET status = 'cancelled' WHERE id = :id\"",
        "SQL = \"SELECT 1 FROM reminders WHERE status IN ('planned', 'queued', 'sending')\"",
        "SQL = f\"SELECT :org, 'reminder.cancelled', {x}\"",
        'if row.status == "sent": pass',
        'CLAIMABLE = ("planned", "queued")',
        'in_flight = by_status.get("queued", 0) + by_status["sending"]',
    ],
)
def test_the_scan_catches_each_way_a_status_was_spelled(source):
    assert offences(source)


@pytest.mark.parametrize(
    "source",
    [
        'q.where(Receivable.status == "open")',
        'q.where(Receivable.status != "cancelled")',
        'update(Receivable).where(x).values(status="cancelled")',
        'invoice.status = "disputed"',
        'q.where(Writeback.status.in_(("pending", "failed")))',
        '{"status": "failed", "attempts": 3}',
        "SQL = \"CASE WHEN told.status = 'open' THEN 'paid' END\"",
        "q.where(Reminder.status == s.SENDING)",
        'counts["skipped"] += 1',
        'CLOSED = ("done", "cancelled", "vetoed")',
        'RETRIED = ("pending", "failed")',
    ],
)
def test_the_scan_leaves_other_tables_words_alone(source):
    assert not offences(source)


# --- the sets -----------------------------------------------------------------------------


def test_the_sets_agree():
    assert len(set(s.ALL)) == len(s.ALL)
    assert all(isinstance(x, str) and x == x.lower() and len(x) <= 16 for x in s.ALL)
    sets = {
        "CLAIMABLE": s.CLAIMABLE,
        "IN_FLIGHT": s.IN_FLIGHT,
        "OPEN": s.OPEN,
        "FINAL": s.FINAL,
        "PROGRESS": s.PROGRESS,
        "ACCEPTS_FAILURE": s.ACCEPTS_FAILURE,
        "STOPPED": s.STOPPED,
        "CAPPED": s.CAPPED,
    }
    for name, members in sets.items():
        assert set(members) <= set(s.ALL), name
        assert len(set(members)) == len(members), name
    assert set(s.CLAIMABLE).isdisjoint(s.IN_FLIGHT)
    assert set(s.OPEN) == set(s.CLAIMABLE) | set(s.IN_FLIGHT)
    assert set(s.OPEN).isdisjoint(s.FINAL) and set(s.OPEN) | set(s.FINAL) == set(s.ALL)
    assert set(s.PROGRESS) | set(s.ACCEPTS_FAILURE) | set(s.STOPPED) <= set(s.FINAL)
    assert set(s.CAPPED).isdisjoint(s.STOPPED) and set(s.CAPPED) | set(s.STOPPED) == set(s.ALL)
    assert s.PLANNED in s.CLAIMABLE and s.SENDING in s.IN_FLIGHT
    assert s.PROGRESS[0] == s.SENT and s.SENT in s.ACCEPTS_FAILURE


@given(st.sampled_from(s.ALL))
def test_every_status_is_open_or_final_and_names_its_event(status):
    assert (status in s.OPEN) != (status in s.FINAL)
    assert s.event_kind(status) == f"reminder.{status}"
    assert ledger.sql_literal(status) == f"'{status}'"


@given(st.sampled_from(s.ALL), st.sampled_from((*s.ALL, "accepted", "")))
def test_a_receipt_never_puts_a_row_back_in_the_dispatchers_hands(current, reported):
    after = advance(current, reported)
    assert after is None or after in s.FINAL
    if current in s.OPEN:
        assert after is None  # not sent yet: a receipt cannot be about it


@given(st.lists(st.sampled_from(s.ALL), min_size=1, unique=True))
def test_the_sql_in_list_names_exactly_the_set(members):
    text = ledger.sql_status_in(members)
    assert sorted(re.findall(r"'(\w+)'", text)) == sorted(members)
    assert text.startswith("status IN (")


def test_sql_literal_refuses_other_words():
    with pytest.raises(ValueError):
        ledger.sql_literal("paid")
