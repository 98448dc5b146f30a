"""dispatch.typed.NamedTuple makes the class typing.NamedTuple makes from the same class statement."""

from __future__ import annotations

import pickle
import typing

import pytest

from dispatch import typed


def _classes() -> list[type]:
    made = []
    for base in (typing.NamedTuple, typed.NamedTuple):
        class Point(base):  # type: ignore[valid-type, misc]
            """A point."""

            x: int
            y: int = 0
            label: str | None = None
            ORIGIN = "origin"

            @property
            def norm(self) -> int:
                return abs(self.x) + abs(self.y)

            def moved(self, dx: int) -> Point:
                return self._replace(x=self.x + dx)

        made.append(Point)
    return made


def test_the_same_class_as_typings() -> None:
    ours, theirs = _classes()[1], _classes()[0]
    for cls in (theirs, ours):
        p = cls(3, -4)
        assert (tuple(p), p.norm, p.moved(1), p._asdict(), cls._fields, cls._field_defaults, cls.ORIGIN,
                cls.__doc__, list(cls.__annotations__), repr(p), p == (3, -4, None), isinstance(p, tuple)) == (
            (3, -4, None), 7, cls(4, -4), {"x": 3, "y": -4, "label": None}, ("x", "y", "label"),
            {"y": 0, "label": None}, "origin", "A point.", ["x", "y", "label"],
            "Point(x=3, y=-4, label=None)", True, True)
        assert cls._make([1, 2, "a"]) == cls(1, 2, "a")
        with pytest.raises(TypeError):
            cls()  # x has no default
        with pytest.raises(AttributeError):
            p.x = 1  # type: ignore[misc]


def test_a_field_without_a_default_after_one_with_a_default_is_refused_as_typing_refuses_it() -> None:
    for base in (typing.NamedTuple, typed.NamedTuple):
        with pytest.raises(TypeError):
            class Bad(base):  # type: ignore[valid-type, misc]
                a: int = 0
                b: int


def test_a_module_level_one_pickles() -> None:
    from dispatch.git import Worktree

    assert Worktree.__module__ == "dispatch.git"
    w = Worktree(*[None] * len(Worktree._fields))
    assert pickle.loads(pickle.dumps(w)) == w
