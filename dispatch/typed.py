"""What dispatch's modules need of `typing` as they run, without importing it.

Importing `typing` took 3.5 ms of every command's start-up here, and each `typing.NamedTuple` class it
made 0.1 ms more (a dozen load for a `status`), out of a start-up of some 50 ms. So a module says

    from dispatch.typed import TYPE_CHECKING, NamedTuple
    if TYPE_CHECKING:
        from typing import Any

and names only in annotations (which `from __future__ import annotations` leaves unevaluated) what it
imports under TYPE_CHECKING. mypy reads any `if TYPE_CHECKING:` as true, and sees typing's own NamedTuple
here; at run time the same class statement makes a `collections.namedtuple`, as typing's does.
"""

from __future__ import annotations

__all__ = ["TYPE_CHECKING", "NamedTuple"]

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import NamedTuple
else:
    # What typing.NamedTuple lets a class body set besides its fields (a method, a property, a constant).
    _OWN = frozenset({"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make",
                      "_replace", "_asdict", "_source"})

    class _Fields(type):
        def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, object]):
            if not bases:  # NamedTuple itself
                return super().__new__(mcls, name, bases, ns)
            fields = list(ns.get("__annotations__", {}))
            defaults = [ns[f] for f in fields if f in ns]
            if any(f not in ns for f in fields[len(fields) - len(defaults):]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            import collections  # (here: dispatch.prefetch starts git before anything imports it)

            cls = collections.namedtuple(name, fields, defaults=defaults, module=ns["__module__"])
            for key, value in ns.items():
                if key in _OWN:
                    raise AttributeError(f"{name}: cannot overwrite NamedTuple attribute {key}")
                if key not in fields and key not in ("__module__", "__annotations__"):
                    setattr(cls, key, value)
            cls.__annotations__ = ns.get("__annotations__", {})
            return cls

    class NamedTuple(metaclass=_Fields):
        pass
