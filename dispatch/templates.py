"""Rendering the Jinja2 templates that hold every text dispatch writes for workers."""

from __future__ import annotations

from functools import cache
from pathlib import Path
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

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["blockquote"] = _blockquote
    env.filters["item_text"] = _item_text
    return env


def render(name: str, **context: Any) -> str:
    text: str = _environment().get_template(name).render(**context)
    return text
