"""DeepLabCut ``_meta.pickle``: the network and snapshot next to an output table.

DeepLabCut pickles a dict of plain values (and a few ruamel/numpy objects) next to each output
``<video><scorer>[_el|_filtered...].h5``. It is read by a pure-Python unpickler that builds
dicts, lists, strings and numbers only: any class or function it names becomes an inert
placeholder, so nothing is imported, called or set, and inputs crafted to hang the reader
(sets, expensive dict keys) are refused. A damaged meta file never fails a read.
"""

from __future__ import annotations

import io
import logging
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

log = logging.getLogger(__name__)

#: ``_meta.pickle`` files larger than this are not read (DeepLabCut's are a few kB).
META_PICKLE_MAX_BYTES = 1 << 20
#: What DLC appends after the scorer (which ends in the snapshot's iteration count).
_OUTPUT_SUFFIX = re.compile(r"(?<=\d)(?:_[A-Za-z]+)+$")


def dlc_meta_path(path: str | Path) -> Path | None:
    """The ``_meta.pickle`` DeepLabCut writes next to an output table, or ``None``.

    ``<video><scorer>.h5``, ``..._filtered.csv`` and ``..._el.h5`` all share
    ``<video><scorer>_meta.pickle``; the scorer ends in the snapshot's iteration count.
    """
    path = Path(path)
    base = _OUTPUT_SUFFIX.sub("", path.stem)
    if not base or not base[-1].isdigit():
        return None
    meta = path.with_name(f"{base}_meta.pickle")
    return meta if meta.is_file() else None


class _Opaque:
    """Stands in for every class a pickle names: nothing is imported, called or set.

    Keeps the constructor arguments, so a number subclass (ruamel's ``ScalarFloat(0.8)``)
    still gives its value through :func:`_plain`.
    """

    args: tuple[Any, ...] = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> _Opaque:
        obj = super().__new__(cls)
        obj.args = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def _plain(value: Any) -> Any:
    if isinstance(value, _Opaque) and len(value.args) == 1:
        return value.args[0]
    return value


_CHEAP_KEYS = (str, int, float, bool, bytes, type(None))


def _cheap_key(key: Any) -> Any:
    """Dict keys whose hash costs O(1): a nested tuple sharing references can take 2**depth."""
    if not isinstance(key, _CHEAP_KEYS):
        raise pickle.UnpicklingError(f"dict key of type {type(key).__name__} refused")
    return key


class _PlainUnpickler(pickle._Unpickler):
    """Builds dicts, lists, strings and numbers; any class or function becomes ``_Opaque``.

    The pure-Python unpickler, so that every way of filling a dict checks its keys first and
    sets (whose items are hashed) are refused: a 300-byte file must not hang the reader.
    """

    # internals of the pure-Python unpickler (CPython's pickle._Unpickler), untyped in typeshed
    stack: list[Any]
    pop_mark: Callable[[], list[Any]]
    append: Callable[[Any], None]
    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(
        pickle._Unpickler.dispatch  # type: ignore[attr-defined]
    )

    def find_class(self, module: str, name: str) -> Any:
        return _Opaque

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
        raise pickle.UnpicklingError("sets are not part of a DeepLabCut meta file")

    dispatch[pickle.DICT[0]] = _load_dict
    dispatch[pickle.SETITEM[0]] = _load_setitem
    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.ADDITEMS[0]] = _refuse
    dispatch[pickle.FROZENSET[0]] = _refuse


def read_dlc_meta(path: str | Path, scorer: str | None = None) -> str | None:
    """Network and snapshot from the ``_meta.pickle`` next to a DeepLabCut output.

    Parameters
    ----------
    path
        The DLC output table (``.h5``/``.csv``).
    scorer
        The table's scorer; a meta file recording another scorer is ignored.

    Returns
    -------
    str or None
        E.g. ``"network efficientnet-b0, snapshot-5, iteration 0, training fraction 0.8"``;
        ``None`` when there is no meta file or it says nothing usable (a debug log says why).
        A damaged meta file never fails the read: the table is the data.
    """
    meta_path = dlc_meta_path(path)
    if meta_path is None:
        return None
    try:
        if meta_path.stat().st_size > META_PICKLE_MAX_BYTES:
            log.debug("%s: larger than %d bytes, not read", meta_path, META_PICKLE_MAX_BYTES)
            return None
        raw = _PlainUnpickler(io.BytesIO(meta_path.read_bytes())).load()
    except Exception as exc:  # any malformed pickle: the meta file is optional
        log.debug("%s: unreadable (%s)", meta_path, exc)
        return None
    data = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(data, dict):
        return None
    recorded = data.get("Scorer")
    if scorer is not None and isinstance(recorded, str) and recorded != scorer:
        log.debug("%s: scorer %r is not the table's %r; ignored", meta_path, recorded, scorer)
        return None
    model = data.get("DLC-model-config file") or data.get("pytorch-config")
    model = model if isinstance(model, dict) else {}
    weights = model.get("init_weights")
    fraction = _plain(data.get("training set fraction"))
    parts = [
        f"network {model['net_type']}" if isinstance(model.get("net_type"), str) else None,
        Path(weights).name if isinstance(weights, str) and "snapshot" in weights else None,
        f"iteration {data['iteration (active-learning)']}"
        if isinstance(data.get("iteration (active-learning)"), int)
        else None,
        f"training fraction {fraction}"
        if isinstance(fraction, int | float) and not isinstance(fraction, bool)
        else None,
    ]
    text = ", ".join(p for p in parts if p)
    return text or None


__all__ = ["META_PICKLE_MAX_BYTES", "dlc_meta_path", "read_dlc_meta"]
