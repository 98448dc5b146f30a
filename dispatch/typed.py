"""What dispatch's modules need of `typing` as they run, without importing it.

Importing `typing` took 3.5 ms of every command's start-up here, and each `typing.NamedTuple` class it
made 0.1 ms more (a dozen load for a `status`), out of a start-up of some 50 ms. So a module says

    from dispatch.typed import TYPE_CHECKING, NamedTuple
    if TYPE_CHECKING:
        from typing import Any

and names only in annotations (which `from __future__ import annotations` leaves unevaluated) what it
imports under TYPE_CHECKING. mypy reads any `if TYPE_CHECKING:` as true, and sees typing's own NamedTuple
here; at run time the same class statement makes the class `collections.namedtuple` makes (typing's
does), its methods shared and its `__new__` compiled when the first one is made, not as the module loads.
"""

from __future__ import annotations

__all__ = ["TYPE_CHECKING", "NamedTuple"]

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import NamedTuple
else:
    try:
        from _collections import _tuplegetter  # (C: what collections.namedtuple makes each field's getter with)
    except ImportError:  # (a Python without it: what collections falls back on)
        def _tuplegetter(index: int, doc: str) -> property:
            from operator import itemgetter

            return property(itemgetter(index), doc=doc)

    # What typing.NamedTuple lets a class body set besides its fields (a method, a property, a constant).
    _OWN = frozenset({"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make",
                      "_replace", "_asdict", "_source"})

    class _Record(tuple):  # type: ignore[type-arg]
        """namedtuple's methods, written once for every class made here. collections.namedtuple wrote them
        again for each class and compiled its `__new__` at once: 0.14 ms a class, 1.1 ms of a `status`'s
        start-up for fourteen classes, half of which it never makes one of."""

        __slots__ = ()  # (_fields and _field_defaults: each class's own)

        def __new__(cls, *args, **kwargs):
            # The first one made: the class gets the `__new__` namedtuple gives it (the fields as its
            # parameters, by name or place, with their defaults), compiled now, once.
            new = _compiled_new(cls)
            cls.__new__ = staticmethod(new)
            return new(cls, *args, **kwargs)

        @classmethod
        def _make(cls, iterable):
            made = tuple.__new__(cls, iterable)
            if len(made) != len(cls._fields):
                raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(made)}")
            return made

        def _replace(self, /, **changes):
            made = self._make(map(changes.pop, self._fields, self))
            if changes:
                raise ValueError(f"Got unexpected field names: {list(changes)!r}")
            return made

        def __repr__(self):
            return f"{type(self).__name__}({', '.join(f'{n}={v!r}' for n, v in zip(self._fields, self))})"

        def _asdict(self):
            return dict(zip(self._fields, self))

        def __getnewargs__(self):
            return tuple(self)

    def _compiled_new(cls):
        """namedtuple's `__new__` for CLS: its field names are identifiers of our own class statements."""
        names = _names(cls._fields)
        scope = {"_tuple_new": tuple.__new__, "__builtins__": {}, "__name__": f"namedtuple_{cls.__name__}"}
        new = eval(f"lambda _cls, {names}: _tuple_new(_cls, ({names}))", scope)
        new.__name__, new.__qualname__ = "__new__", f"{cls.__qualname__}.__new__"
        new.__defaults__ = tuple(cls._field_defaults.values()) or None
        return new

    def _names(fields: tuple[str, ...]) -> str:
        return ", ".join(fields) + ("," if len(fields) == 1 else "")  # (one field: a tuple of one)

    class _Fields(type):
        def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, object]):
            if not bases:  # NamedTuple itself
                return super().__new__(mcls, name, bases, ns)
            fields = tuple(ns.get("__annotations__", {}))
            defaults = {f: ns[f] for f in fields if f in ns}
            if any(f not in ns for f in fields[len(fields) - len(defaults):]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            for key in ns:
                if key in _OWN:
                    raise AttributeError(f"{name}: cannot overwrite NamedTuple attribute {key}")
            body = {key: value for key, value in ns.items() if key not in defaults}
            body.update({"__slots__": (), "_fields": fields, "_field_defaults": defaults, "__match_args__": fields})
            body.setdefault("__doc__", f"{name}({_names(fields)})")
            for index, field in enumerate(fields):
                body[field] = _tuplegetter(index, f"Alias for field number {index}")
            return type.__new__(type, name, (_Record,), body)

    class NamedTuple(metaclass=_Fields):
        pass
