"""The feature pipeline: declarative, cached, lineage-tracked features on pose tracks."""
