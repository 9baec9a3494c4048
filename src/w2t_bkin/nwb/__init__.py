"""NWB writers, validation, provenance and QC."""
