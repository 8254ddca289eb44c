"""The files of a labelled scene dataset folder, named once for all who touch them.

The clip generator (``ops.scene.synthetic``, also run by the sample site) writes them and
the annotation checks (``ops.scene.labels``) read them; this module imports nothing, so
the generator does not load pandas, Great Expectations or the data registry for a name.
"""

from __future__ import annotations

ANNOTATIONS_NAME = "annotations.csv"
MEDIA_NAME = "media.csv"
CUES_NAME = "cues.csv"  # the generator's per-second cue log, which its annotations come from
