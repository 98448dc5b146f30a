"""PLAN.md: parsing, exact edits and byte-for-byte round trips."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.errors import DispatchError
from dispatch.task.plan import (
    MARKS,
    Item,
    Plan,
    PlanError,
    Progress,
    dump_front_matter,
    parse_checklist_source,
    parse_plan,
)

FAST = settings(max_examples=200, deadline=None)

PLAN = textwrap.dedent(
    """\
    ---
    dispatch: 1
    id: fix-login
    title: Fix the login redirect loop
    base: main
    base_commit: 3f2a9c1
    model: opus
    created: '2026-11-23T10:00:00Z'
    ---
    # Fix the login redirect loop

    > the user's own words for the task
    > possibly several lines

    ## Checklist
    - [ ] Reproduce the loop in a failing test
    - [x] Fix the redirect handling — optional note after a dash
    - [?] Blocked item
      the reason, on an indented line below
    - [!] Failed item — why

    ## Notes from the dispatcher
    - 2026-11-23 10:05 — use the staging DB
    """
)


def summary(plan: Plan) -> list[tuple[str, str, list[str]]]:
    return [(item.mark, item.text, item.detail) for item in plan.items]


# --- reading -------------------------------------------------------------------------


def test_reads_the_template_plan() -> None:
    plan = parse_plan(PLAN)

    assert plan.meta == {
        "dispatch": 1,
        "id": "fix-login",
        "title": "Fix the login redirect loop",
        "base": "main",
        "base_commit": "3f2a9c1",
        "model": "opus",
        "created": "2026-11-23T10:00:00Z",
    }
    assert plan.title == "Fix the login redirect loop"
    assert plan.description == "the user's own words for the task\npossibly several lines"
    assert plan.items == [
        Item(position=0, line=15, mark=" ", text="Reproduce the loop in a failing test", detail=[]),
        Item(position=1, line=16, mark="x", text="Fix the redirect handling — optional note after a dash", detail=[]),
        Item(position=2, line=17, mark="?", text="Blocked item", detail=["the reason, on an indented line below"]),
        Item(position=3, line=19, mark="!", text="Failed item — why", detail=[]),
    ]
    assert plan.progress() == Progress(done=1, total=4, blocked=1, failed=1)
    assert plan.render() == PLAN


def test_marks_name_the_four_states() -> None:
    assert MARKS == {" ": "pending", "x": "done", "?": "blocked", "!": "failed"}


def test_tolerates_sloppy_checklists() -> None:
    text = (
        "## Checklist\r\n"
        "* [X] star bullet, capital X\r\n"
        "+ [ ] plus bullet\r\n"
        "1. [?] numbered with a dot\r\n"
        "   why it is blocked\r\n"
        "\r\n"
        "   more about it, after a blank line\r\n"
        "2) [!] numbered with a parenthesis — it broke\r\n"
        "    - [x] nested item counts too\r\n"
        "      nested detail\r\n"
        "      - plain bullet under the nested item\r\n"
        "  back in the numbered item's detail\r\n"
        "\t- [ ] tab-indented item\r\n"
        "- [x]\r\n"
        "-   [ ]    extra spaces   "
    )
    plan = parse_plan(text)

    assert summary(plan) == [
        ("x", "star bullet, capital X", []),
        (" ", "plus bullet", []),
        ("?", "numbered with a dot", ["why it is blocked", "", "more about it, after a blank line"]),
        ("!", "numbered with a parenthesis — it broke", ["back in the numbered item's detail"]),
        ("x", "nested item counts too", ["nested detail", "- plain bullet under the nested item"]),
        (" ", "tab-indented item", []),
        ("x", "", []),
        (" ", "extra spaces", []),
    ]
    assert [item.line for item in plan.items] == [1, 2, 3, 7, 8, 12, 13, 14]
    assert plan.progress() == Progress(done=3, total=8, blocked=1, failed=1)
    assert plan.meta == {}
    assert plan.render() == text


def test_a_tab_indents_as_deep_as_four_spaces() -> None:
    plan = parse_plan("- [ ] parent\n\t- [ ] tab child\n  parent detail, not deeper than the tab\n")

    assert summary(plan) == [
        (" ", "parent", ["parent detail, not deeper than the tab"]),
        (" ", "tab child", []),
    ]


def test_lines_that_only_look_like_items_are_not_items() -> None:
    text = textwrap.dedent(
        """\
        # Checklist
        - [ ] real
        > - [ ] quoted
          > - [x] quoted and indented
        ```
        - [ ] in a backtick fence
        ## Not a heading inside the fence
        ```
        ~~~~ text
        - [x] in a tilde fence
        ~~~
        - [ ] still in the fence: a closing fence is at least as long
        ~~~~
        - [] no space in the box
        -[ ] no space after the bullet
        - [y] unknown mark
        - [x]no space after the box
        ```inline``` code is not a fence
        - [!] real again
        """
    )
    plan = parse_plan(text)

    assert summary(plan) == [(" ", "real", []), ("!", "real again", [])]


def test_items_only_count_inside_the_checklist_section() -> None:
    text = textwrap.dedent(
        """\
        # Title

        - [ ] before the checklist

        ### CHECKLIST ###
        - [ ] first
        #### Phase two
        - [x] under a deeper heading
        ### Worker notes
        - [ ] after the checklist
        """
    )
    plan = parse_plan(text)

    assert summary(plan) == [(" ", "first", []), ("x", "under a deeper heading", [])]
    assert plan.progress() == Progress(done=1, total=2, blocked=0, failed=0)


def test_without_a_checklist_heading_every_checklist_line_counts() -> None:
    text = "Some text\n- [x] one\n\n## Elsewhere\n  * [ ] two\n```\n- [ ] fenced\n```\n> - [ ] quoted"
    plan = parse_plan(text)

    assert summary(plan) == [("x", "one", []), (" ", "two", [])]


def test_front_matter_is_not_part_of_the_body() -> None:
    plan = parse_plan("---\nnote: '- [ ] not an item'\n---\n- [ ] item\n")

    assert summary(plan) == [(" ", "item", [])]
    assert plan.meta == {"note": "- [ ] not an item"}


def test_without_front_matter_meta_is_empty() -> None:
    plan = parse_plan("# Just a title\n\n- [ ] x\n")

    assert plan.meta == {}
    assert plan.title == "Just a title"
    assert summary(plan) == [(" ", "x", [])]


def test_empty_front_matter_gives_empty_meta() -> None:
    plan = parse_plan("---\n---\nJust prose.\n## Checklist\n")

    assert plan.meta == {}
    assert plan.description == "Just prose."
    assert parse_plan("---\n{}\n---\n").meta == {}


def test_title_comes_from_meta_then_the_first_level_one_heading() -> None:
    assert parse_plan("---\ntitle: From meta\n---\n# From heading\n").title == "From meta"
    assert parse_plan("---\nid: x\n---\n## Sub\n# From heading #\n").title == "From heading"
    assert parse_plan("---\ntitle: ' '\n---\n# From heading\n").title == "From heading"
    assert parse_plan("---\ntitle: 42\n---\n").title == "42"
    assert parse_plan("```\n# fenced\n```\n## Checklist\n").title == ""
    assert parse_plan("").title == ""


def test_description_is_the_text_under_the_title() -> None:
    text = textwrap.dedent(
        """\
        # Title

        > first line
        >
        >second line, no space after the marker
        > ### a subheading the user wrote

        plain text too
        ## Checklist
        - [ ] x
        """
    )
    assert parse_plan(text).description == (
        "first line\n\nsecond line, no space after the marker\n### a subheading the user wrote\n\nplain text too"
    )
    assert parse_plan("# Title\n## Checklist\n").description == ""
    assert parse_plan("no title here\n\n## Checklist\n").description == "no title here"


def test_a_byte_order_mark_does_not_hide_the_first_line() -> None:
    plan = parse_plan("\ufeff- [ ] first\n")
    plan.set_mark(0, "x")

    assert plan.render() == "\ufeff- [x] first\n"


# --- errors --------------------------------------------------------------------------


def test_unclosed_front_matter_is_an_error_on_line_one() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan("---\nid: x\n# Title\n")

    assert str(caught.value) == "front matter is not closed by a '---' line"
    assert caught.value.line == 1
    assert isinstance(caught.value, DispatchError)


def test_yaml_syntax_error_names_the_file_line() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan("---\nid: x\ntitle: a: b\n---\n")

    assert str(caught.value) == "front matter is not valid YAML: mapping values are not allowed here"
    assert caught.value.line == 3


def test_yaml_error_in_a_crlf_file_names_the_file_line() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan("---\r\nid: x\r\nmodel: opus\r\n  bad: y\r\n---\r\n")

    assert str(caught.value) == "front matter is not valid YAML: mapping values are not allowed here"
    assert caught.value.line == 4


def test_yaml_error_at_the_end_points_at_the_closing_line() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan("---\nid: x\ntags: [a,\n---\n")

    assert str(caught.value) == "front matter is not valid YAML: expected the node content, but found '<stream end>'"
    assert caught.value.line == 4


def test_unacceptable_character_names_the_file_line() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan("---\nid: x\nnote: \x01\n---\n")

    assert str(caught.value) == "front matter is not valid YAML: character '\\x01' is not allowed"
    assert caught.value.line == 3


def test_impossible_date_is_a_plan_error() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan("---\ncreated: 2026-13-01\n---\n")

    assert str(caught.value) == "front matter is not valid YAML: month must be in 1..12"
    assert caught.value.line is None


@pytest.mark.parametrize("front", ["- a\n- b\n", "just a string\n", "42\n", "[]\n", "''\n"])
def test_front_matter_must_be_a_mapping(front: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(f"---\n{front}---\n")

    assert str(caught.value) == "front matter is not a mapping: write it as 'key: value' lines"
    assert caught.value.line == 2


def test_set_mark_rejects_unknown_marks_and_items() -> None:
    plan = parse_plan(PLAN)
    with pytest.raises(PlanError, match=r"^unknown mark 'X': use one of ' ', 'x', '\?', '!'$"):
        plan.set_mark(0, "X")
    with pytest.raises(PlanError, match=r"^no checklist item 4: the plan has 4 items$"):
        plan.set_mark(4, "x")
    with pytest.raises(PlanError, match=r"^no checklist item -1: the plan has 4 items$"):
        plan.set_mark(-1, "x")
    assert plan.render() == PLAN


def test_add_note_rejects_an_empty_note() -> None:
    plan = parse_plan(PLAN)
    with pytest.raises(PlanError, match=r"^the note is empty: give the note text$"):
        plan.add_note(" \n\t", "2026-11-23 11:00")


# --- editing -------------------------------------------------------------------------


def test_set_mark_changes_only_the_marker() -> None:
    plan = parse_plan(PLAN)
    plan.set_mark(0, "x")
    plan.set_mark(1, " ")
    plan.set_mark(2, "!", note="the staging DB is down\n  and nobody has the password  ")

    assert plan.render() == PLAN.replace(
        "- [ ] Reproduce", "- [x] Reproduce"
    ).replace("- [x] Fix the redirect", "- [ ] Fix the redirect").replace(
        "- [?] Blocked item\n",
        "- [!] Blocked item — the staging DB is down and nobody has the password\n",
    )
    assert plan.progress() == Progress(done=1, total=4, blocked=0, failed=2)
    assert plan.items[2].detail == ["the reason, on an indented line below"]


def test_set_mark_keeps_crlf_and_a_missing_final_newline() -> None:
    plan = parse_plan("## Checklist\r\n1) [?] a  \r\n   * [ ] b")
    plan.set_mark(0, "x", note="unblocked")
    plan.set_mark(1, "?", note="")

    assert plan.render() == "## Checklist\r\n1) [x] a — unblocked\r\n   * [?] b"


def test_set_mark_leaves_a_capital_x_when_already_done() -> None:
    plan = parse_plan("- [X] a\n- [X] b\n")
    plan.set_mark(0, "x")
    plan.set_mark(1, " ")

    assert plan.render() == "- [X] a\n- [ ] b\n"
    assert [item.mark for item in plan.items] == ["x", " "]


def test_add_note_appends_at_the_end_of_the_notes_section() -> None:
    text = textwrap.dedent(
        """\
        # T

        ## Notes from the dispatcher
        - 2026-11-23 10:05 — use the staging DB


        ## Worker's own notes
        - tried X
        """
    )
    plan = parse_plan(text)
    plan.add_note("Skip the flaky test.\nIt is tracked elsewhere.\n\n  See #12.", "2026-11-23 11:00")
    plan.add_note("second", "2026-11-23 11:30")

    assert plan.render() == textwrap.dedent(
        """\
        # T

        ## Notes from the dispatcher
        - 2026-11-23 10:05 — use the staging DB
        - 2026-11-23 11:00 — Skip the flaky test.
          It is tracked elsewhere.

            See #12.
        - 2026-11-23 11:30 — second


        ## Worker's own notes
        - tried X
        """
    )


def test_add_note_into_an_empty_section_goes_right_under_its_heading() -> None:
    plan = parse_plan("# T\n### notes from the dispatcher\n\n## Next\n")
    plan.add_note("hello", "now")

    assert plan.render() == "# T\n### notes from the dispatcher\n- now — hello\n\n## Next\n"


def test_add_note_creates_the_section_when_missing() -> None:
    plan = parse_plan("# T\r\n\r\n## Checklist\r\n- [ ] a")
    plan.add_note("hello", "2026-11-23 11:00")

    assert plan.render() == (
        "# T\r\n\r\n## Checklist\r\n- [ ] a\r\n\r\n## Notes from the dispatcher\r\n- 2026-11-23 11:00 — hello\r\n"
    )
    assert summary(plan) == [(" ", "a", [])]


def test_add_note_to_an_empty_file() -> None:
    plan = parse_plan("")
    plan.add_note("hello", "now")

    assert plan.render() == "## Notes from the dispatcher\n- now — hello\n"


def test_add_note_in_a_template_plan_keeps_everything_else() -> None:
    plan = parse_plan(PLAN)
    plan.add_note("first line\nsecond line", "2026-11-23 12:00")

    assert plan.render() == PLAN + "- 2026-11-23 12:00 — first line\n  second line\n"
    assert plan.items == parse_plan(PLAN).items


def test_set_meta_redumps_only_the_front_matter() -> None:
    plan = parse_plan(PLAN.replace("\n", "\r\n"))
    plan.set_meta("model", "sonnet")
    plan.set_meta("branch", "dispatch/fix-login")

    assert plan.render() == textwrap.dedent(
        """\
        ---
        dispatch: 1
        id: fix-login
        title: Fix the login redirect loop
        base: main
        base_commit: 3f2a9c1
        model: sonnet
        created: '2026-11-23T10:00:00Z'
        branch: dispatch/fix-login
        ---
        """
    ).replace("\n", "\r\n") + PLAN.split("---\n", 2)[2].replace("\n", "\r\n")
    assert [item.line for item in plan.items] == [16, 17, 18, 20]
    plan.set_mark(3, "x")
    assert "- [x] Failed item — why\r\n" in plan.render()


def test_set_meta_fills_empty_front_matter() -> None:
    plan = parse_plan("---\n---\n- [ ] a\n")
    plan.set_meta("id", "x")

    assert plan.render() == "---\nid: x\n---\n- [ ] a\n"
    assert plan.items[0].line == 3


def test_set_meta_adds_front_matter_when_missing() -> None:
    plan = parse_plan("\ufeff# T\n- [ ] a\n")
    plan.set_meta("title", "Ünïcode ✓")

    assert plan.render() == "\ufeff---\ntitle: Ünïcode ✓\n---\n# T\n- [ ] a\n"
    assert parse_plan(plan.render()).meta == {"title": "Ünïcode ✓"}
    assert plan.items[0].line == 4


def test_dump_front_matter_is_block_yaml_in_insertion_order() -> None:
    meta: dict[str, object] = {"dispatch": 1, "id": "x", "created": "2026-11-23T10:00:00Z", "tags": ["a", "b"]}
    assert dump_front_matter(meta) == "dispatch: 1\nid: x\ncreated: '2026-11-23T10:00:00Z'\ntags:\n- a\n- b\n"


def test_dump_front_matter_escapes_yaml_line_breaks() -> None:
    meta: dict[str, object] = {"note": "a\x85b\u2028c"}
    assert dump_front_matter(meta) == 'note: "a\\Nb\\Lc"\n'
    assert parse_plan("---\n" + dump_front_matter(meta) + "---\n").meta == meta


# --- parse_checklist_source ----------------------------------------------------------


def test_checklist_source_takes_every_checklist_line() -> None:
    text = textwrap.dedent(
        """\
        # Fix login

        The redirect loops.
        Users are stuck.

        - [ ] write a failing test
        Some text in between.
        * [x] fix it
          1. [ ] nested, numbered
        ```
        - [ ] fenced, ignored
        ```
        - [ ]
        """
    )
    assert parse_checklist_source(text) == (
        "The redirect loops.\nUsers are stuck.",
        ["write a failing test", "fix it", "nested, numbered"],
    )


def test_checklist_source_falls_back_to_top_level_bullets() -> None:
    text = "Intro\r\n\r\n- one\r\n  - nested, not an item\r\n* two\r\n1. three\r\n2) four\r\n```\r\n- fenced\r\n```\r\n"
    assert parse_checklist_source(text) == ("Intro", ["one", "two", "three", "four"])


def test_checklist_source_without_any_list() -> None:
    assert parse_checklist_source("# Title\n\nJust prose.\n") == ("# Title\n\nJust prose.", [])
    assert parse_checklist_source("") == ("", [])


def test_checklist_source_keeps_a_title_that_is_not_leading() -> None:
    assert parse_checklist_source("Prose\n# Heading\n- [ ] a") == ("Prose\n# Heading", ["a"])
    assert parse_checklist_source("## Sub\n- [ ] a") == ("## Sub", ["a"])


# --- properties ----------------------------------------------------------------------

_WORD_CHARS = "abcxyzABC0189 .,:;'\"()/é中😀—"
words = st.text(alphabet=_WORD_CHARS, max_size=12).map(str.strip)
safe_line = st.builds(lambda first, rest: first + rest, st.sampled_from("abcé中"), st.text(_WORD_CHARS, max_size=15))
any_line = st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=20)


@dataclass
class Model:
    """A plan's intended content, and the text written from it."""

    lines: list[str] = field(default_factory=list)
    items: list[tuple[str, str, list[str]]] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)
    description: str = ""
    heading: str = ""


@st.composite
def item_lines(draw: st.DrawFn, model: Model) -> None:
    indent = draw(st.sampled_from(["", " ", "  ", "    ", "\t"]))
    bullet = draw(st.sampled_from(["-", "*", "+", "1.", "12)"]))
    mark = draw(st.sampled_from([" ", "x", "X", "?", "!"]))
    text = draw(any_line)
    model.lines.append(f"{indent}{bullet} [{mark}] {text}")
    detail: list[str] = []
    for _ in range(draw(st.integers(0, 2))):
        blank_before: bool = draw(st.booleans())
        if detail and blank_before:
            model.lines.append("")
            detail.append("")
        deeper = indent + draw(st.sampled_from([" ", "  ", "   ", "\t"]))
        line = draw(safe_line)
        model.lines.append(deeper + line)
        detail.append(line.strip())
    model.items.append((mark.lower(), text.strip(), detail))
    if draw(st.booleans()):
        model.lines.append("")


@st.composite
def decoys(draw: st.DrawFn, model: Model) -> None:
    """Lines that look like items or headings but are not."""
    kind = draw(st.sampled_from(["fence", "tilde", "quote", "prose"]))
    if kind == "fence":
        model.lines += ["```python", "- [ ] fenced", "## Checklist", "```"]
    elif kind == "tilde":
        model.lines += ["~~~", "* [x] fenced", "~~~"]
    elif kind == "quote":
        model.lines.append(f"> - [{draw(st.sampled_from(' x?!'))}] quoted")
    else:
        model.lines.append(draw(safe_line))


@st.composite
def plans(draw: st.DrawFn) -> tuple[str, Model]:
    model = Model()
    if draw(st.booleans()):
        model.meta = draw(
            st.dictionaries(
                st.sampled_from(["dispatch", "id", "title", "base", "model", "created"]),
                st.one_of(any_line, st.integers(), st.booleans()),
                max_size=4,
            )
        )
        model.lines += ["---", *dump_front_matter(model.meta).split("\n")[:-1], "---"]
    title = draw(words)
    model.lines.append(f"# {title}".rstrip())
    model.heading = title
    description = draw(st.lists(safe_line, max_size=3))
    if description:
        model.lines += ["", *[f"> {line}" for line in description], ""]
        model.description = "\n".join(line.rstrip() for line in description).strip()
    # A level-2 heading ends the description whatever follows.
    model.lines.append("## Plan")
    has_heading = draw(st.booleans())
    level = 2
    if has_heading:
        if draw(st.booleans()):
            model.lines.append("- [ ] before the checklist, not counted")
        level = draw(st.integers(1, 3))
        model.lines.append("#" * level + " " + draw(st.sampled_from(["Checklist", "checklist", "CHECKLIST  "])))
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 3)) == 0:
            draw(decoys(model))
        else:
            draw(item_lines(model))
    # The checklist ends at the next heading of its level.
    model.lines += ["", "#" * level + " Notes from the dispatcher"]
    model.lines += [f"- 2026-11-23 10:0{n} — {draw(safe_line)}" for n in range(draw(st.integers(0, 2)))]
    if has_heading and draw(st.booleans()):
        model.lines += ["", "#" * level + " Worker notes", "- [x] after the checklist, not counted", "", "extra prose"]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(model.lines) + draw(st.sampled_from(["", newline]))
    return text, model


def flatten(note: str) -> str:
    return " ".join(part.strip() for part in note.splitlines() if part.strip())


@FAST
@given(plans())
def test_generated_plans_round_trip_and_parse_as_written(case: tuple[str, Model]) -> None:
    text, model = case
    plan = parse_plan(text)

    assert plan.render() == text
    assert plan.meta == model.meta
    assert summary(plan) == model.items
    assert [item.position for item in plan.items] == list(range(len(model.items)))
    marks = [mark for mark, _, _ in model.items]
    assert plan.progress() == Progress(marks.count("x"), len(marks), marks.count("?"), marks.count("!"))
    meta_title = str(model.meta.get("title", "")).strip()
    assert plan.title == (meta_title or model.heading)
    assert plan.description == model.description


@FAST
@given(st.text())
def test_any_text_that_parses_renders_back_unchanged(text: str) -> None:
    try:
        plan = parse_plan(text)
    except PlanError:
        return
    assert plan.render() == text
    assert len(plan.items) == plan.progress().total
    assert isinstance(plan.title, str) and isinstance(plan.description, str)


@FAST
@given(plans(), st.data())
def test_set_mark_changes_exactly_one_line(case: tuple[str, Model], data: st.DataObject) -> None:
    text, _model = case
    plan = parse_plan(text)
    before = plan.items
    if not before:
        return
    index = data.draw(st.integers(0, len(before) - 1))
    mark = data.draw(st.sampled_from(list(MARKS)))
    note = data.draw(st.none() | st.text())
    old_lines = text.split("\n")

    plan.set_mark(index, mark, note)

    new_lines = plan.render().split("\n")
    changed = [n for n, (old, new) in enumerate(zip(old_lines, new_lines)) if old != new]
    assert len(new_lines) == len(old_lines)
    assert set(changed) <= {before[index].line}
    after = plan.items
    expected = list(before)
    note_text = flatten(note or "")
    target = before[index]
    expected[index] = Item(
        target.position,
        target.line,
        mark,
        f"{target.text} — {note_text}".strip() if note_text else target.text,
        target.detail,
    )
    assert after == expected


@FAST
@given(plans(), st.text().filter(lambda s: s.strip() != ""))
def test_add_note_inserts_lines_and_keeps_all_others(case: tuple[str, Model], note: str) -> None:
    text, _model = case
    plan = parse_plan(text)
    before = plan.items

    plan.add_note(note, "2026-11-23 11:00")

    lines = [line.rstrip() for line in note.strip().splitlines()]
    added = [f"- 2026-11-23 11:00 — {lines[0]}"] + [f"  {line}" if line else "" for line in lines[1:]]
    old = plan_lines(text)
    new = plan_lines(plan.render())
    assert any(
        [line.rstrip("\r\n") for line in new[at : at + len(added)]] == added
        and same_lines(new[:at] + new[at + len(added) :], old)
        for at in range(len(new))
    )
    if not any(ITEM_LIKE.match(line) for line in lines):
        assert summary(plan) == [(item.mark, item.text, item.detail) for item in before]


ITEM_LIKE = re.compile(r"[ \t]*(?:[-*+]|[0-9]+[.)])[ \t]+\[")


def plan_lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def same_lines(new: list[str], old: list[str]) -> bool:
    # The old last line may have gained the line ending that the note lines need.
    if new == old:
        return True
    return bool(old) and new[:-1] == old[:-1] and new[-1].rstrip("\r\n") == old[-1].rstrip("\r\n")


@FAST
@given(plans(), st.sampled_from(["model", "title", "extra"]), st.one_of(any_line, st.integers()))
def test_set_meta_rewrites_front_matter_and_keeps_the_body(case: tuple[str, Model], key: str, value: object) -> None:
    text, model = case
    plan = parse_plan(text)
    before = summary(plan)
    body_start = model.lines.index("---", 1) + 1 if model.lines[0] == "---" else 0
    body = "".join(plan_lines(text)[body_start:])

    plan.set_meta(key, value)

    again = parse_plan(plan.render())
    assert again.meta == {**model.meta, key: value}
    assert summary(again) == before
    assert plan.render().endswith(body)
