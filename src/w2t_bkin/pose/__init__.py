"""Pose estimation: estimator backends, streaming inference over videos, compact result files."""
