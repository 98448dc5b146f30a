"""Rendering the Jinja2 templates that hold every text dispatch writes for workers.

A template that uses only variables (with our filters), `if NAME` and `for X in NAME` renders without
importing jinja2 (~30 ms of a command's start-up): every shipped one does, and tests/test_templates.py
checks each renders as jinja2 would. Anything else in a template (an edited one) goes to jinja2.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

_HERE = Path(__file__).resolve().parent


def templates_dir() -> Path:
    """`dispatch/templates` in an installed wheel, `templates/` beside the package in a checkout."""
    for candidate in (_HERE / "templates", _HERE.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"dispatch templates not found beside {_HERE}")


def _blockquote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


def _item_text(text: str) -> str:
    # One line, whatever it holds: a newline could start a new item or section.
    return " ".join(text.split())


@cache
def _environment() -> Any:
    import jinja2

    return environment(jinja2.FileSystemLoader(str(templates_dir())))


def environment(loader: Any) -> Any:
    """A jinja2 environment as dispatch renders with (`parse_simple` follows its whitespace rules)."""
    import jinja2

    env = jinja2.Environment(
        loader=loader,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters.update(_FILTERS)
    return env


def render(name: str, **context: Any) -> str:
    nodes = _simple(name)
    if nodes is not None:
        try:
            return render_simple(nodes, context)
        except KeyError:
            pass  # a value missing: jinja2 says which, in its words
    text: str = _environment().get_template(name).render(**context)
    return text


_FILTERS = {"blockquote": _blockquote, "item_text": _item_text}
_TAG = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}\n?|\{#", re.DOTALL)
_VAR = re.compile(r"\s*([A-Za-z_]\w*)\s*(?:\|\s*(" + "|".join(_FILTERS) + r")\s*)?")
_BLOCK = re.compile(r"\s*(?:(if) ([A-Za-z_]\w*)|(for) ([A-Za-z_]\w*) in ([A-Za-z_]\w*)|(endif|endfor))\s*")

if TYPE_CHECKING:
    # A parsed template: text, ("var", name, filter), ("if", name, body) and ("for", item, name, body).
    Node = str | tuple[Any, ...]


@cache
def _simple(name: str) -> list[Node] | None:
    return parse_simple((templates_dir() / name).read_text(encoding="utf-8"))


def parse_simple(source: str) -> list[Node] | None:
    """SOURCE parsed, when it holds only what `render_simple` renders as jinja2 would (with trim_blocks
    and lstrip_blocks); None otherwise."""
    if "\r" in source:
        return None
    stack: list[tuple[list[Node], tuple[str, ...]]] = [([], ())]
    pos = 0
    for tag in _TAG.finditer(source):
        text = source[pos:tag.start()]
        pos = tag.end()
        if tag.group(1) is not None:
            var = _VAR.fullmatch(tag.group(1))
            if var is None:
                return None
            stack[-1][0].extend([text, ("var", var.group(1), var.group(2))])
            continue
        block = _BLOCK.fullmatch(tag.group(2) or "")
        if block is None:
            return None
        line_start = text.rfind("\n") + 1
        if not text[line_start:].strip(" \t"):
            text = text[:line_start]  # lstrip_blocks: the indentation before a block tag goes
        stack[-1][0].append(text)
        if block.group(1) or block.group(3):
            stack.append(([], tuple(g for g in block.groups()[:5] if g)))
        elif len(stack) == 1 or stack[-1][1][0] != block.group(6)[3:]:
            return None
        else:
            body, head = stack.pop()
            stack[-1][0].append((*head, body))
    if len(stack) != 1:
        return None
    stack[0][0].append(source[pos:])
    return stack[0][0]


def render_simple(nodes: list[Node], context: dict[str, Any]) -> str:
    """NODES (from `parse_simple`) rendered; KeyError for a value missing from CONTEXT."""
    return "".join(_emit(nodes, context))


def _emit(nodes: list[Node], context: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif node[0] == "var":
            value = context[node[1]]
            out.append(str(_FILTERS[node[2]](value) if node[2] else value))
        elif node[0] == "if":
            if context[node[1]]:
                out += _emit(node[2], context)
        else:
            for item in context[node[2]]:
                out += _emit(node[3], {**context, node[1]: item})
    return out
