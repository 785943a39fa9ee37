"""zh-CN and English for what a person reads on the command line.

The language comes from DUNLIN_UI_LANGUAGE, else from LANG/LC_ALL (zh* → Chinese), else English.
"""

from __future__ import annotations

import os


def ui_language() -> str:
    explicit = os.environ.get("DUNLIN_UI_LANGUAGE")
    if explicit:
        return "zh" if explicit.lower().startswith("zh") else "en"
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def t(en: str, zh: str) -> str:
    """Pick the phrase for the user's language; both are always written side by side in code."""
    return zh if ui_language() == "zh" else en
