"""Scene types: per-segment scores joined into labelled scenes, and scene-level evaluation."""
