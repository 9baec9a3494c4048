"""DeepLabCut ``_meta.pickle``: the network and snapshot next to an output table.

DeepLabCut pickles a dict of plain values (and a few ruamel/numpy objects) next to each output
``<video><scorer>[_el|_filtered...].h5``. It is read by :func:`~w2t_bkin.sources.plain_pickle.
plain_loads`, which builds dicts, lists, strings and numbers only: nothing is imported, called or
set. A damaged meta file never fails a read.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from w2t_bkin.sources.plain_pickle import plain_loads, plain_value

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
        raw = plain_loads(meta_path.read_bytes())
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
    fraction = plain_value(data.get("training set fraction"))
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
