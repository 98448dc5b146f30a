"""QUESTIONS.md: asking, answering, hand edits and byte-for-byte round trips."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.errors import DispatchError
from dispatch.task.questions import Question, QuestionsError, parse_questions

FAST = settings(max_examples=200, deadline=None)

HEADER = textwrap.dedent(
    """\
    # Questions from the worker

    Asked with `dispatch ask "..."`; answered with `dispatch answer fix-login "..."`.
    """
)


def test_header_only_has_no_questions() -> None:
    questions = parse_questions(HEADER)

    assert questions.questions == []
    assert questions.open() == []
    assert questions.render() == HEADER


def test_add_and_answer_write_exact_blocks() -> None:
    questions = parse_questions(HEADER)

    first = questions.add("  Which database should the migration target?\n", "2026-11-23T10:00:00Z")
    second = questions.add(
        "Should I keep the old endpoint?\n\nIt is still called by:\n  - the mobile app\n", "2026-11-23T10:02:00Z"
    )
    answered = questions.answer(2, "Yes, keep it for one release.\n\n## Q9 — open\n", "2026-11-23T10:03:10Z")

    assert first == Question(1, "Which database should the migration target?", "2026-11-23T10:00:00Z", None, None)
    assert second == Question(
        2,
        "Should I keep the old endpoint?\n\nIt is still called by:\n  - the mobile app",
        "2026-11-23T10:02:00Z",
        None,
        None,
    )
    assert answered == Question(
        2,
        "Should I keep the old endpoint?\n\nIt is still called by:\n  - the mobile app",
        "2026-11-23T10:02:00Z",
        "Yes, keep it for one release.\n\n## Q9 — open",
        "2026-11-23T10:03:10Z",
    )
    assert questions.render() == HEADER + textwrap.dedent(
        """\

        ## Q1 — open
        asked: 2026-11-23T10:00:00Z

        > Which database should the migration target?

        ## Q2 — answered
        asked: 2026-11-23T10:02:00Z
        answered: 2026-11-23T10:03:10Z

        > Should I keep the old endpoint?
        >
        > It is still called by:
        >   - the mobile app

        ### Answer

        > Yes, keep it for one release.
        >
        > ## Q9 — open
        """
    )
    assert parse_questions(questions.render()).questions == [first, answered]
    assert [q.number for q in questions.open()] == [1]
    assert first.is_open and not answered.is_open


def test_answering_a_middle_question_changes_only_its_block() -> None:
    questions = parse_questions(HEADER)
    questions.add("one", "t1")
    questions.add("two", "t2")
    questions.add("three", "t3")
    before = questions.render()

    questions.answer(2, "the answer", "t4")

    assert questions.render() == before.replace(
        "## Q2 — open\nasked: t2\n\n> two\n",
        "## Q2 — answered\nasked: t2\nanswered: t4\n\n> two\n\n### Answer\n\n> the answer\n",
    )


def test_text_that_looks_like_structure_stays_text() -> None:
    tricky = "## Q1 — answered\nasked: never\n### Answer\n---\n- [ ] item\n>quoted\n\n  \n\tindented"
    questions = parse_questions("")
    questions.add(tricky, "t1")
    questions.answer(1, tricky, "t2")

    again = parse_questions(questions.render()).questions
    assert again == [Question(1, tricky, "t1", tricky, "t2")]


def test_numbers_follow_the_highest_existing_one() -> None:
    questions = parse_questions("## Q3 — open\nasked: t\n\n> three\n\n## Q7 — answered\n\n### Answer\n\n> yes\n")

    assert questions.add("next", "t").number == 8
    assert parse_questions("").add("first", "t").number == 1


# --- hand edits ----------------------------------------------------------------------


def test_reads_hand_edited_blocks() -> None:
    text = textwrap.dedent(
        """\
        # Questions from the worker

        ## Q1 — OPEN
        Asked:   2026-11-23T10:00:00Z


        Which database should the migration target?
        (written without quote marks)


        ## q2 - Answered
        asked: 2026-11-23T10:02:00Z

        > Should I keep the old endpoint?

        ### answer:

        Yes, typed by hand.
        > with a quote in it

        ## Q3 — open
        asked: 2026-11-23T10:04:00Z
        answered: 2026-11-23T10:05:00Z

        > Header and stamp say answered, but there is no answer text.

        ### Answer

        """
    )
    questions = parse_questions(text)

    assert questions.questions == [
        Question(
            1,
            "Which database should the migration target?\n(written without quote marks)",
            "2026-11-23T10:00:00Z",
            None,
            None,
        ),
        Question(
            2,
            "Should I keep the old endpoint?",
            "2026-11-23T10:02:00Z",
            "Yes, typed by hand.\n> with a quote in it",
            None,
        ),
        Question(
            3,
            "Header and stamp say answered, but there is no answer text.",
            "2026-11-23T10:04:00Z",
            None,
            None,
        ),
    ]
    assert [q.number for q in questions.open()] == [1, 3]
    assert questions.render() == text


def test_an_answer_typed_under_the_heading_counts_as_answered() -> None:
    text = "## Q1 — open\nasked: t1\n\n> Which one?\n\n### Answer\n\nThe second.\n"
    questions = parse_questions(text, task="fix-login")

    assert questions.questions == [Question(1, "Which one?", "t1", "The second.", None)]
    assert questions.open() == []
    with pytest.raises(QuestionsError) as caught:
        questions.answer(1, "again", "t2")
    assert str(caught.value) == "question 1 in task fix-login is already answered: see `dispatch questions fix-login`"


def test_answering_under_an_empty_answer_heading_reuses_it() -> None:
    text = "## Q1 — Answered\nasked: t1\nanswered: t0\n\n> Which one?\n\n### Answer\n\n\n## Q2 — open\n"
    questions = parse_questions(text)
    questions.answer(1, "The first.", "t2")

    assert questions.render() == (
        "## Q1 — answered\nasked: t1\nanswered: t2\n\n> Which one?\n\n### Answer\n\n> The first.\n\n\n## Q2 — open\n"
    )


def test_answering_a_question_without_stamps_or_text() -> None:
    questions = parse_questions("## Q4")
    answered = questions.answer(4, "ok", "t2")

    assert questions.render() == "## Q4 — answered\nanswered: t2\n\n### Answer\n\n> ok\n"
    assert answered == Question(4, "", "", "ok", "t2")


def test_duplicate_numbers_answer_the_open_one() -> None:
    questions = parse_questions("## Q1 — answered\n\n### Answer\n\n> yes\n\n## Q1 — open\n\n> second\n")
    questions.answer(1, "also yes", "t")

    assert [(q.text, q.answer) for q in questions.questions] == [("", "yes"), ("second", "also yes")]


# --- line endings --------------------------------------------------------------------


def test_crlf_file_stays_crlf() -> None:
    questions = parse_questions(HEADER.replace("\n", "\r\n"))
    questions.add("Why?\nBecause.", "t1")
    questions.answer(1, "Fine.", "t2")

    assert questions.render() == (
        HEADER
        + "\n## Q1 — answered\nasked: t1\nanswered: t2\n\n> Why?\n> Because.\n\n### Answer\n\n> Fine.\n"
    ).replace("\n", "\r\n")
    assert parse_questions(questions.render()).questions == [Question(1, "Why?\nBecause.", "t1", "Fine.", "t2")]


def test_carriage_returns_in_text_survive_an_lf_file() -> None:
    questions = parse_questions(HEADER)
    questions.add("a\r\nb\rc\r", "t")

    assert questions.render().endswith("> a\r\n> b\rc\n")
    assert parse_questions(questions.render()).questions[0].text == "a\r\nb\rc"


def test_no_extra_blank_line_after_a_blank_last_line() -> None:
    questions = parse_questions("# Questions\n\n")
    questions.add("x", "t")

    assert questions.render() == "# Questions\n\n## Q1 — open\nasked: t\n\n> x\n"


def test_missing_final_newline_is_added_before_new_lines() -> None:
    questions = parse_questions("# Questions\n\n## Q1 — open\nasked: t\n\n> x")
    questions.answer(1, "y", "t2")
    questions.add("z", "t3")

    assert questions.render() == textwrap.dedent(
        """\
        # Questions

        ## Q1 — answered
        asked: t
        answered: t2

        > x

        ### Answer

        > y

        ## Q2 — open
        asked: t3

        > z
        """
    )


# --- errors --------------------------------------------------------------------------


def test_unknown_question_names_the_task() -> None:
    with pytest.raises(QuestionsError) as caught:
        parse_questions(HEADER, task="fix-login").answer(7, "x", "t")

    assert str(caught.value) == "no question 7 in task fix-login: see `dispatch questions fix-login`"
    assert isinstance(caught.value, DispatchError)


def test_unknown_question_without_a_task() -> None:
    with pytest.raises(QuestionsError, match=r"^no question 2: see `dispatch questions`$"):
        parse_questions("## Q1 — open\n").answer(2, "x", "t")


def test_empty_texts_are_refused() -> None:
    questions = parse_questions("## Q1 — open\n")
    with pytest.raises(QuestionsError, match=r"^the question is empty: write the question text$"):
        questions.add(" \n\t", "t")
    with pytest.raises(QuestionsError, match=r"^the answer is empty: write the answer text$"):
        questions.answer(1, "\n", "t")
    assert questions.render() == "## Q1 — open\n"


def test_already_answered_without_a_task() -> None:
    questions = parse_questions("")
    questions.add("q", "t")
    questions.answer(1, "a", "t")
    with pytest.raises(QuestionsError, match=r"^question 1 is already answered: see `dispatch questions`$"):
        questions.answer(1, "b", "t")


def test_stamps_are_kept_on_one_line() -> None:
    questions = parse_questions("")
    questions.add("q", "2026-11-23\nT10:00")

    assert questions.render() == "## Q1 — open\nasked: 2026-11-23 T10:00\n\n> q\n"


# --- properties ----------------------------------------------------------------------

texts = st.text().filter(lambda s: "\x00" not in s and s.strip() != "")
preambles = st.sampled_from([HEADER, HEADER.replace("\n", "\r\n"), "", "# Questions"])
fragments = st.sampled_from(
    ["## Q1 — open", "## Q2 — ANSWERED", "## q3", "## Q1 - open  ", "asked: t", "Answered: u", "### Answer",
     "## answer", "> quoted", ">", "", "  ", "\t", "plain", "\r", "x\r", "\x85", "\u2028"]
)  # fmt: skip
# Hand-edited files: question structure in any order, mixed line endings, with or without a final newline.
files = st.one_of(
    st.text(),
    st.builds(
        lambda lines, ends, last: "".join(line + end for line, end in zip(lines, ends)) + last,
        st.lists(st.one_of(fragments, st.text(max_size=5)), max_size=14),
        st.lists(st.sampled_from(["\n", "\r\n"]), min_size=14, max_size=14),
        st.one_of(st.just(""), fragments),
    ),
)


@FAST
@given(files)
def test_any_text_renders_back_unchanged(text: str) -> None:
    questions = parse_questions(text)

    assert questions.render() == text
    assert questions.open() == [q for q in questions.questions if q.answer is None]


@FAST
@given(preambles, st.lists(st.tuples(st.booleans(), texts, st.integers(0, 20)), max_size=6))
def test_what_is_asked_and_answered_comes_back(preamble: str, steps: list[tuple[bool, str, int]]) -> None:
    questions = parse_questions(preamble)
    expected: list[Question] = []
    for n, (ask, text, pick) in enumerate(steps):
        open_numbers = [q.number for q in expected if q.answer is None]
        if ask or not open_numbers:
            question = questions.add(text, f"asked-{n}")
            expected.append(Question(len(expected) + 1, text.strip(), f"asked-{n}", None, None))
        else:
            number = open_numbers[pick % len(open_numbers)]
            question = questions.answer(number, text, f"answered-{n}")
            expected[number - 1] = Question(
                number, expected[number - 1].text, expected[number - 1].asked, text.strip(), f"answered-{n}"
            )
        assert question in expected
        fresh = parse_questions(questions.render())
        assert fresh.questions == expected
        assert fresh.render() == questions.render()
    assert questions.render().startswith(preamble.rstrip("\r\n"))


@FAST
@given(files, texts)
def test_adding_to_any_file_appends_and_keeps_every_question(text: str, question: str) -> None:
    questions = parse_questions(text)
    before = questions.questions

    added = questions.add(question, "now")

    assert questions.render().startswith(text)
    after = parse_questions(questions.render()).questions
    assert after == [*before, added]
    assert added == Question(max([q.number for q in before], default=0) + 1, question.strip(), "now", None, None)


@FAST
@given(files, texts, st.data())
def test_answering_in_any_file_changes_only_that_question(text: str, answer: str, data: st.DataObject) -> None:
    questions = parse_questions(text)
    before = questions.questions
    candidates = [i for i, q in enumerate(before) if q.is_open]
    if not candidates:
        return
    at = data.draw(st.sampled_from(candidates))
    if any(q.number == before[at].number for q in before[:at]):
        return  # a duplicate number: the first open one is answered, covered by an example

    questions.answer(before[at].number, answer, "now")

    after = parse_questions(questions.render()).questions
    target = before[at]
    assert after == [
        *before[:at],
        Question(target.number, target.text, target.asked, answer.strip(), "now"),
        *before[at + 1 :],
    ]


@FAST
@given(st.lists(texts, min_size=2, max_size=4), texts, st.data())
def test_answering_keeps_the_other_blocks_byte_for_byte(asked: list[str], answer: str, data: st.DataObject) -> None:
    questions = parse_questions(HEADER)
    for text in asked:
        questions.add(text, "t")
    number = data.draw(st.integers(1, len(asked)))
    before = questions.render()

    questions.answer(number, answer, "t2")

    after = questions.render()
    head = f"## Q{number} — "
    start = before.index("\n" + head) + 1
    next_before = before.find("\n## Q", start)
    assert after[:start] == before[:start]
    if next_before != -1:
        assert after.endswith(before[next_before:])
