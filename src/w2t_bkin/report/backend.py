"""matplotlib's backend in processes that draw figures to files only (QC reports).

Without a backend named, matplotlib resolves its default the first time any rcParam is read
with the others (the QC report's boxplot does): it imports pyplot and, where a display is set,
tries the GUI toolkits (Qt, GTK, Tk) in turn. The command line and the worker processes never
show a window, so they name ``agg`` before matplotlib is imported; a user's ``MPLBACKEND`` is
kept. A notebook calling the Python API keeps its own backend.
"""

from __future__ import annotations

import os


def draw_to_files() -> None:
    """Name the ``agg`` backend for this process unless ``MPLBACKEND`` names one already.

    Call it before matplotlib is imported: matplotlib reads the variable as it loads.
    """
    os.environ.setdefault("MPLBACKEND", "agg")
