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


def _fresh(base: type) -> type:
    class Pair(base):  # type: ignore[valid-type, misc]
        left: int
        right: str = "r"

    class One(base):  # type: ignore[valid-type, misc]
        only: int

    return Pair, One


@pytest.mark.parametrize("first", ["keywords", "place", "make", "deepcopy", "copy"])
def test_made_every_way_as_typings_whatever_comes_first(first: str) -> None:
    """A class's first instance, however it is made (ours compiles its `__new__` then), and every one after,
    as typing's."""
    import copy

    results = []
    for base in (typing.NamedTuple, typed.NamedTuple):
        Pair, One = _fresh(base)
        seen: list[object] = []
        if first == "make":
            seen.append(Pair._make([7, "x"]))
        elif first == "deepcopy":
            seen.append(copy.deepcopy(tuple.__new__(Pair, (7, "x"))))
        elif first == "copy":
            seen.append(copy.copy(tuple.__new__(Pair, (7, "x"))))
        seen += [Pair(right="y", left=1) if first == "keywords" else Pair(2), Pair(3, "z"), Pair(4), Pair(left=5),
                 One(1), One(only=2), Pair(1)._replace(right="q"), repr(One(3)), One._fields, Pair.__match_args__,
                 Pair.__doc__, One.__doc__, copy.deepcopy(Pair(6))]
        match Pair(8, "m"):
            case Pair(left, right):
                seen.append((left, right))
        for cls, args, kwargs in ((Pair, (), {}), (Pair, (1, "a", 3), {}), (Pair, (1,), {"left": 2}),
                                  (Pair, (1,), {"other": 2}), (One, (), {})):
            with pytest.raises(TypeError) as raised:
                cls(*args, **kwargs)
            seen.append(str(raised.value).replace("__new__()", "Pair()").split("() ", 1)[1])
        with pytest.raises(ValueError, match="unexpected field names: \\['other'\\]"):
            Pair(1)._replace(other=2)
        with pytest.raises(TypeError, match="Expected 2 arguments, got 1"):
            Pair._make([1])
        results.append(seen)
    assert results[1] == results[0]
