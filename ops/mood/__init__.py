"""Mood: eight moods on a circle for images and music, matching them, and the mood video."""
