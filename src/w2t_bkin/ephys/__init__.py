"""Electrophysiology: session discovery, spike-sorting job dispatch and sorting."""
