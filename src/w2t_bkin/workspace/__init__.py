"""Experiment workspace: layout, creation, raw import, discovery and validation."""
