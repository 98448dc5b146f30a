"""The prefetch's reading of a plan's front matter without yaml (dispatch.plainmeta): what it calls plain,
the plan's own parser (yaml) reads as the very same string, so a guess made from it is the command's."""

from __future__ import annotations

from pathlib import Path

from dispatch import plainmeta
from dispatch.task.plan import parse_plan

VALUES = ["main", "feature/x-1", "release_2.0", "v1.2", "On", "off", "NULL", "yes", "n", "~", "1e3", "0x1f", "0b101",
          "12345", "0123", "1.0", ".inf", "-x", "2026-12-03", "c837dec3b1b9775cf5307f1ec337e8ac3bc72da3", "0c83",
          "'main'", '"main"', "main # note", "a:b", "ünïcode", "[main]", "main, other"]


def _plan(value: str) -> str:
    return f"---\ndispatch: 1\nid: t\ntitle: T\nbase: {value}\n---\n# T\n\n## Checklist\n- [ ] one\n"


def test_what_it_calls_plain_yaml_reads_as_the_same_string() -> None:
    plain = [v for v in VALUES if plainmeta.plain(v)]
    assert plain == ["main", "feature/x-1", "release_2.0", "v1.2", "1e3", "c837dec3b1b9775cf5307f1ec337e8ac3bc72da3",
                     "0c83"]
    for value in plain:
        assert str(parse_plan(_plan(value)).meta["base"]) == value
    # and what YAML reads otherwise, it does not call plain
    for value in ("On", "NULL", "0123", "0b101", "1.50", "'main'", "main # note"):
        assert str(parse_plan(_plan(value)).meta["base"]) != value


def test_it_reads_only_a_front_matter_block_it_can_see_whole(tmp_path: Path) -> None:
    path = tmp_path / "PLAN.md"
    path.write_text(_plan("main"))
    assert plainmeta.read(str(path)) == {"dispatch": "1", "id": "t", "title": "T", "base": "main"}
    path.write_text(_plan("main").replace("\n", "\r\n"))  # (read as Python reads text, as the plan's parser reads it)
    assert plainmeta.read(str(path)) == {"dispatch": "1", "id": "t", "title": "T", "base": "main"}
    for text in ("# T\n", "---\nbase: main\n", ""):
        path.write_text(text)
        assert plainmeta.read(str(path)) is None, text
    path.write_bytes(b"---\nbase: \xff\n---\n")
    assert plainmeta.read(str(path)) is None
    assert plainmeta.read(str(tmp_path / "missing.md")) is None
