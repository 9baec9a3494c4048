"""Synthetic experiments with ground truth."""
