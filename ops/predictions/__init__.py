"""The predictions store: model outputs per item and segment, with their lineage."""
