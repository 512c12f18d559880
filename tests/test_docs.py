"""The docs stay true to the code: every flag of the command is in the README, and links between docs resolve.

The README is the user's reference for the public contracts (flags, report, exit codes); docs/ is the
engineer's. A flag added without a README row, or a page moved without its links, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_flag_of_the_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    flags = {opt for action in build_parser()._actions for opt in action.option_strings if opt.startswith("--")}
    assert len(flags) > 20
    missing = sorted(flag for flag in flags if not re.search(rf"(?<![\w-]){flag}(?![\w-])", readme))
    assert not missing, f"flags with no row in README.md: {missing}"


def test_every_exit_code_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in (0, 1, 2, 130, 143):
        assert f"`{code}`" in readme


def test_relative_links_between_readme_and_docs_resolve() -> None:
    assert {p.name for p in PAGES} >= {
        "README.md",
        "architecture.md",
        "benchmarks.md",
        "cluster.md",
        "limits.md",
        "packaging.md",
    }
    broken = [
        f"{page.relative_to(ROOT)} -> {target}"
        for page in PAGES
        for target in LINK.findall(page.read_text(encoding="utf-8"))
        if "://" not in target and not (page.parent / target).exists()
    ]
    assert not broken
