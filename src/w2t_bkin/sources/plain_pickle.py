"""Read pickled plain values without unpickling: nothing is imported, called or set.

Some formats of the field embed small pickles: DeepLabCut's ``_meta.pickle`` next to each output
table, and the column labels pandas/PyTables store as pickled HDF5 attributes. ``pickle.loads``
on such input runs whatever the file names (``os.system`` is one opcode away), so these are read
by CPython's pure-Python unpickler with every class or function it names replaced by an inert
placeholder (:class:`Opaque`), dict keys restricted to cheap hashable types and sets refused: a
300-byte input must not hang the reader either.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import Any, ClassVar


class Opaque:
    """Stands in for every class or function a pickle names: nothing is imported, called or set.

    Keeps the constructor arguments, so a number subclass (ruamel's ``ScalarFloat(0.8)``)
    still gives its value through :func:`plain_value`.
    """

    args: tuple[Any, ...] = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Opaque:
        obj = super().__new__(cls)
        obj.args = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def plain_value(value: Any) -> Any:
    """The single constructor argument of an :class:`Opaque` (a number subclass), else ``value``."""
    if isinstance(value, Opaque) and len(value.args) == 1:
        return value.args[0]
    return value


_CHEAP_KEYS = (str, int, float, bool, bytes, type(None))


def _cheap_key(key: Any) -> Any:
    """Dict keys whose hash costs O(1): a nested tuple sharing references can take 2**depth."""
    if not isinstance(key, _CHEAP_KEYS):
        raise pickle.UnpicklingError(f"dict key of type {type(key).__name__} refused")
    return key


class _PlainUnpickler(pickle._Unpickler):
    """Builds dicts, lists, tuples, strings and numbers; any class or function is ``Opaque``.

    The pure-Python unpickler, so that every way of filling a dict checks its keys first and
    sets (whose items are hashed) are refused.
    """

    # internals of the pure-Python unpickler (CPython's pickle._Unpickler), untyped in typeshed
    stack: list[Any]
    pop_mark: Callable[[], list[Any]]
    append: Callable[[Any], None]
    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(
        pickle._Unpickler.dispatch  # type: ignore[attr-defined]
    )

    def find_class(self, module: str, name: str) -> Any:
        return Opaque

    def _load_dict(self) -> None:
        items = self.pop_mark()
        self.append({_cheap_key(k): v for k, v in zip(items[::2], items[1::2], strict=True)})

    def _load_setitem(self) -> None:
        value = self.stack.pop()
        key = _cheap_key(self.stack.pop())
        self.stack[-1][key] = value

    def _load_setitems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        for k, v in zip(items[::2], items[1::2], strict=True):
            target[_cheap_key(k)] = v

    def _refuse(self) -> None:
        raise pickle.UnpicklingError("sets are refused in pickled plain values")

    dispatch[pickle.DICT[0]] = _load_dict
    dispatch[pickle.SETITEM[0]] = _load_setitem
    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.ADDITEMS[0]] = _refuse
    dispatch[pickle.FROZENSET[0]] = _refuse


def plain_loads(data: bytes) -> Any:
    """The plain value pickled in ``data``; classes and functions come back as :class:`Opaque`.

    Python 2 ``str`` values are decoded as Latin-1 (as PyTables does for its attributes).

    Raises
    ------
    pickle.UnpicklingError, EOFError, ValueError, ...
        Whatever a malformed pickle makes the unpickler raise: callers decide what it means.
    """
    return _PlainUnpickler(io.BytesIO(data), encoding="latin1").load()


__all__ = ["Opaque", "plain_loads", "plain_value"]
