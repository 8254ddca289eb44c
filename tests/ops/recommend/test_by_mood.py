"""Music for pictures and videos: tracks ranked by steps on the mood circle."""

from __future__ import annotations

from ops.recommend.by_mood import MUSIC_FOR, music_rows

KINDS = {
    "photo": "image",
    "film": "video",
    "calm-song": "audio",
    "serene-song": "audio",
    "joyful-song": "audio",
    "angry-song": "audio",
}
MOODS = {
    "photo": "calm",
    "film": "joyful",
    "calm-song": "calm",
    "serene-song": "serene",
    "joyful-song": "joyful",
    "angry-song": "angry",
}


def test_tracks_come_by_steps_on_the_circle_with_the_reason() -> None:
    rows = music_rows(MOODS, KINDS, k=5)
    photo = [row for row in rows if row["item_id"] == "photo"]
    assert [(r["similar_item_id"], r["score"]) for r in photo] == [
        ("calm-song", 1.0),
        ("serene-song", 0.75),
        ("joyful-song", 0.5),
    ]  # angry is four steps from calm: not offered
    assert photo[0]["reason"] == "same mood: calm"
    assert photo[1]["reason"] == "mood serene, 1 step from calm on the mood circle"
    assert photo[2]["reason"] == "mood joyful, 2 steps from calm on the mood circle"
    assert {row["scope"] for row in rows} == {MUSIC_FOR}
    assert [row["rank"] for row in photo] == [1, 2, 3]


def test_only_pictures_and_videos_get_music_and_k_bounds_the_list() -> None:
    rows = music_rows(MOODS, KINDS, k=1)
    assert {row["item_id"] for row in rows} == {"photo", "film"}
    assert [row["similar_item_id"] for row in rows if row["item_id"] == "film"] == ["joyful-song"]
    assert music_rows({"photo": "calm"}, KINDS, k=3) == []  # no music with a mood
