"""The words every layer shares: the channels a reminder can go out on and the customer tiers.

They live at the bottom so the pure decision core, the mappings and the shells name the same
things without importing each other (the core would otherwise pull in mappings' YAML, JMESPath
and phone-number libraries just for two tuples)."""

from __future__ import annotations

CHANNELS = ("email", "sms", "wecom", "wechat", "dingtalk", "push", "webhook")
TIERS = ("A", "B", "C")
