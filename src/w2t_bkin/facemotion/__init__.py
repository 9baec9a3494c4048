"""Facial motion signals (the Facemap method): motion energy and motion SVD over video ROIs."""
