"""Readers for raw inputs. Each returns frozen dataclasses holding NumPy arrays."""
