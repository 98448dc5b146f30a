"""The README says what is true of the code: its dependencies, and what the scripted worker understands."""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT


def test_readme_says_why_each_dependency_is_there() -> None:
    """The Dependencies section names every runtime dependency in pyproject.toml, and only those (17.4)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = sorted(re.match(r"[A-Za-z0-9_.-]+", d)[0].lower() for d in declared)
    readme = (ROOT / "README.md").read_text()
    assert "\n## Dependencies\n" in readme
    section = readme.split("\n## Dependencies\n", 1)[1].split("\n## ", 1)[0]
    explained = sorted(re.findall(r"^- \*\*([a-z0-9_.-]+)\*\*", section, flags=re.MULTILINE))
    assert explained == names
    assert "Not GitPython" in section


def test_readme_lists_the_scripted_worker_s_item_forms_as_the_code_has_them() -> None:
    """`dispatch models` and the demo print scripted.ITEM_FORMS; the README holds the same list (17.5)."""
    from dispatch import scripted

    assert "\n" + scripted.item_forms_markdown() + "\n" in (ROOT / "README.md").read_text()
