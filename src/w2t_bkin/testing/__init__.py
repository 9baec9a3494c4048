"""Synthetic experiments with ground truth.

Public entry points: :class:`ExperimentSpec` and :func:`write_experiment` write a complete
workspace (videos, TTL files, Bpod ``.mat``, DLC/SLEAP outputs, ``truth.json``); the modules
``simulate``, ``video``, ``bpod`` and ``pose`` expose the pieces.
"""

from w2t_bkin.testing.experiment import ExperimentSpec, write_experiment

__all__ = ["ExperimentSpec", "write_experiment"]
