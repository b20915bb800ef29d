"""Small immutable records for the types every command's start-up defines.

Defining a frozen dataclass costs about a millisecond (it compiles half a dozen generated
methods); a start defines several, which showed in ``provider-core providers``'s start-up
time (bench/RESULTS.md). A :class:`Record` subclass costs a few microseconds to define: its
methods are the base class's, written once. What a subclass gets: fields from ``_fields``
(in order; also its ``__slots__``), positional or keyword construction with defaults from
``_defaults``, immutability, equality and hashing by type and fields, a repr, and
:meth:`Record.replace`, :meth:`Record.to_dict` and pickling. Building an instance is a
little slower than a dataclass's, which does not matter for values made a few times per
request at most (a subclass made per streamed event writes its own ``__init__``).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

__all__ = ["Record"]

R = TypeVar("R", bound="Record")


class Record:
    """Base of the immutable records (see the module docstring)::

    class Attempt(Record):
        _fields = ("provider", "reason", "error")
        __slots__ = _fields
        _defaults: ClassVar = {"error": None}
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self._fields
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes at most {len(names)} arguments, got {len(args)}")
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in names or name in values:
                raise TypeError(f"{type(self).__name__}() got an unexpected or repeated argument {name!r}")
            values[name] = value
        for name in names:
            if name not in values:
                if name not in self._defaults:
                    raise TypeError(f"{type(self).__name__}() missing argument {name!r}")
                values[name] = self._defaults[name]
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._fields)

    def __hash__(self) -> int:
        return hash((type(self), *(getattr(self, name) for name in self._fields)))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, in order (what ``vars()`` gives for a class with a ``__dict__``)."""
        return {name: getattr(self, name) for name in self._fields}

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled as its type and field values (``__setattr__`` refuses the default way)."""
        return type(self), tuple(getattr(self, name) for name in self._fields)

    def replace(self: R, **changes: Any) -> R:
        """A copy with ``changes`` (like :func:`dataclasses.replace`)."""
        values = {name: getattr(self, name) for name in self._fields}
        values.update(changes)
        return type(self)(**values)
