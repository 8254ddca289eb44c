"""Speech in the media: where it is (voice activity, snapped to the 1-s segment grid, and
each item's speech/music/other share) and what is said (time-coded transcripts with word
timings, one pretrained recogniser per language, chosen by settings)."""
