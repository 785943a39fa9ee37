"""Protocol facts the code relies on are cited from docs/reference/, never from outside the repo.

A citation of the team's shared notes (one directory up) breaks for anyone who clones Dunlin,
and a citation of a section we do not have is as bad; both are checked over every tracked file.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()  # its examples are deliberate
REFERENCE = ROOT / "docs" / "reference"
# Spelled in pieces so this file does not match itself.
OUTSIDE = ("../" + "shared", "shared" + "/reference", "/work/" + "shared")
# ... and a path built from parts: `parents[4] / "shared" / "reference"`.
OUTSIDE_PATH = re.compile(r"""["']shared["']\s*/\s*["']reference["']""")
CITATION = re.compile(r"reference/([\w-]+\.md)\)? §(\d+(?:\.\d+)*)")


def tracked_files() -> list[str]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")
    return [name for name in listed.stdout.decode().split("\0") if name and name != SELF]


def texts(names: list[str]) -> dict[str, str]:
    out = {}
    for name in names:
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the work tree, not yet committed
        try:
            out[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
    return out


def outside_citations(files: dict[str, str]) -> list[str]:
    """`file:line` of every mention of the shared notes outside docs/."""
    found = []
    for name, text in files.items():
        if name.startswith("docs/"):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if any(marker in line for marker in OUTSIDE) or OUTSIDE_PATH.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def has_section(document: str, section: str) -> bool:
    """`## 3.` or `### 3.2` headings, or a numbered paragraph `3.2.` at the start of a line."""
    pattern = rf"^(#+ )?{re.escape(section)}\.?\s"
    return re.search(pattern, document, flags=re.MULTILINE) is not None


def dangling_citations(files: dict[str, str]) -> list[str]:
    """Citations `reference/<file>.md §N` whose file or section docs/reference/ lacks."""
    found = []
    for name, text in files.items():
        for match in CITATION.finditer(text):
            document, section = match.groups()
            target = REFERENCE / document
            if not target.is_file() or not has_section(target.read_text("utf-8"), section):
                found.append(f"{name}: {match.group(0)}")
    return found


def test_nothing_outside_docs_cites_the_shared_notes():
    assert outside_citations(texts(tracked_files())) == []


def test_every_reference_citation_names_a_section_we_have():
    assert dangling_citations(texts(tracked_files())) == []


def test_the_checks_catch_what_they_are_for():
    shared = "../" + "shared" + "/reference/vectors"
    built = 'V = ROOT.parent / "shared" / ' + '"reference" / "vectors"'
    files = {
        "connectors/x.py": f"# see {shared}\n",
        "docs/architecture.md": f"<!-- {shared} -->\n",
        "tests/z.py": built + "\n",
        "mappings/y.yaml": "# GUESS (reference/odoo.md §99.9)\n",
    }
    assert outside_citations(files) == [
        f"connectors/x.py:1: # see {shared}",
        f"tests/z.py:1: {built}",
    ]
    assert dangling_citations(files) == ["mappings/y.yaml: reference/odoo.md §99.9"]
    assert has_section("## 3. Reading\n3.4. **The overlap.**\n", "3.4")
    assert not has_section("3.4. x\n", "3")
