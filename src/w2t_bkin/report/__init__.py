"""Sidecars of a session run that are not NWB: the QC page and its figures, provenance.

Reports read the plain results a run produced (typed objects, arrays) and write HTML or JSON
atomically; they never write NWB (only :mod:`w2t_bkin.nwb` does).
"""
