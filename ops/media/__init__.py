"""Media decoding and the per-video features built on it (shots, keyframes)."""
