"""The plain typed objects every layer shares: frozen dataclasses holding NumPy arrays.

Readers (``sources``) return them, ``sync`` and the analysis code consume them, ``nwb`` writes
them and ``session`` passes them between phases. This package imports only the standard
library, NumPy and :mod:`w2t_bkin.errors`: no file formats, no pynwb, no PyAV, no h5py (the
import contracts in ``pyproject.toml`` check it). Import from the submodules
(``w2t_bkin.model.pose``, ``.ttl``, ``.bpod``, ``.video``, ``.stats``, ``.results``).
"""
