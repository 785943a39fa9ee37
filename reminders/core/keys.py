"""The ledger's idempotency keys, in one place: the unique (org, key) constraint is what keeps
a message to at most one per (target, step, channel), so every writer must spell keys alike.

A reminder's key is `r{target receivable id}:{step}:{channel}`; its step's base key (without the
channel) also names the step's follow-up task (`task:` + base) and review task (`veto:` + base).
"""

from __future__ import annotations


def base_key(target_id: int, step: str) -> str:
    """One step for one pace-setting receivable, across its channels."""
    return f"r{target_id}:{step}"


def reminder_key(target_id: int, step: str, channel: str) -> str:
    return f"{base_key(target_id, step)}:{channel}"


def base_of(key: str) -> str:
    """The base key of a reminder's key (its channel taken off)."""
    return key.rsplit(":", 1)[0]


def sibling_key(key: str, channel: str) -> str:
    """The key of the same step on another channel (a fallback's row)."""
    return f"{base_of(key)}:{channel}"


def task_key(base: str) -> str:
    """The follow-up task a step asks for."""
    return f"task:{base}"


def veto_key(base: str) -> str:
    """The review task of a step held for a salesperson's veto."""
    return f"veto:{base}"
