"""Templates render without jinja2 when they are simple, and exactly as jinja2 renders them (issue 18)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch import templates

CONTEXTS: dict[str, list[dict[str, Any]]] = {
    "PLAN.md.j2": [
        {"front_matter": "dispatch: 1\nid: x\n", "title": "Fix it", "description": "", "items": ["a"]},
        {"front_matter": "a: 1\n", "title": "T", "description": "Two\n\nparagraphs\n  indented", "items": []},
        {"front_matter": "", "title": "{{ not a tag }}", "description": "> quoted", "items": ["x\ny", "  z  ", "{% if %}"]},
    ],
    "QUESTIONS.md.j2": [{"id": "fix-it"}],
    "NOTES.md.j2": [{"id": "fix-it"}],
    "worker_prompt.md.j2": [
        {"prefix": "", "id": "t", "title": "T", "branch": "dispatch/t", "worktree": "/w/t", "ask_timeout_code": 75},
        {"prefix": "Read this first.\n", "id": "t", "title": "T", "branch": "b", "worktree": "/w", "ask_timeout_code": 3},
    ],
    "resume_prompt.md.j2": [
        {"prefix": "", "message": "", "id": "t", "title": "T", "branch": "b", "worktree": "/w", "ask_timeout_code": 75},
        {"prefix": "P\n", "message": "Go on.", "id": "t", "title": "T", "branch": "b", "worktree": "/w",
         "ask_timeout_code": 75},
    ],
}


def jinja(source: str, **context: Any) -> str:
    text: str = templates.environment(jinja2.BaseLoader()).from_string(source).render(**context)
    return text


def test_every_shipped_template_is_simple_and_renders_as_jinja2_does() -> None:
    assert sorted(CONTEXTS) == sorted(p.name for p in templates.templates_dir().glob("*.j2"))
    for name, contexts in CONTEXTS.items():
        source = (templates.templates_dir() / name).read_text(encoding="utf-8")
        nodes = templates.parse_simple(source)
        assert nodes is not None, name
        for context in contexts:
            assert templates.render_simple(nodes, context) == jinja(source, **context) == templates.render(name, **context)


SIMPLE = [
    "{% if a %}\nA\n{% endif %}\nB\n",
    "  {% if a %}  \nA{{ b }}\n  {% endif %}\n",
    "x {% if a %}inline{% endif %} y\n",
    "{% for i in xs %}\n  - {{ i | item_text }}\n{% endfor %}",
    "{% for i in xs %}{% if a %}{{ i }},{% endif %}{% endfor %}\n\n",
    "{{a}}{{ b|blockquote }}\n{%if a%}\n{%endif%}",
    "{ not a tag } {{ b }} %} }}\n",
    "{% for a in xs %}{{ a }}{% endfor %}{{ a }}",
]


@pytest.mark.parametrize("source", SIMPLE)
@given(a=st.sampled_from([True, False, "", "x", 0, None]), b=st.text(max_size=12),
       xs=st.lists(st.text(max_size=6), max_size=3))
def test_simple_templates_render_as_jinja2_does(source: str, a: Any, b: str, xs: list[str]) -> None:
    nodes = templates.parse_simple(source)
    assert nodes is not None
    assert templates.render_simple(nodes, {"a": a, "b": b, "xs": xs}) == jinja(source, a=a, b=b, xs=xs)


@pytest.mark.parametrize("source", [
    "{{ a.b }}", "{{ a | upper }}", "{% if a %}x{% else %}y{% endif %}", "{%- if a %}x{% endif %}",
    "{# note #}", "{% if a %}x", "x{% endif %}", "{% for x in xs %}{% endif %}", "a\r\nb", "{% set a = 1 %}",
    "{{ a + 1 }}", "{% if a and b %}x{% endif %}",
])
def test_anything_else_goes_to_jinja2(source: str) -> None:
    assert templates.parse_simple(source) is None


def test_a_missing_value_is_jinja2s_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        templates.render("QUESTIONS.md.j2")


def test_rendering_a_shipped_template_imports_no_jinja2() -> None:
    code = ("import sys\nfrom dispatch import templates\n"
            "templates.render('PLAN.md.j2', front_matter='', title='T', description='d', items=['i'])\n"
            "print('jinja2' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
