"""The speech and ocr refresh tasks on generated clips: a word said or shown is found at its
second, and a corrupt or silent track costs one ledger row, not the run."""

from __future__ import annotations

import shutil
from contextlib import closing

import numpy as np
import pandas as pd
import pytest

from ops.index.query import SearchQuery
from ops.index.reader import PublishedIndex
from ops.predictions.store import PredictionsStore
from ops.refresh.job import run_refresh
from ops.refresh.registry import current_model
from ops.refresh.words import PHRASE_GAP_S, PHRASE_MAX_S, item_language, phrases
from ops.sample_site import words
from ops.sample_site.media import make_video, mux
from ops.settings import Settings
from ops.speech.tracking import ensure_speech_model
from tests.support.refresh import CatalogEditor


def timed_words(*spoken: tuple[str, float, float, int]) -> pd.DataFrame:
    return pd.DataFrame(spoken, columns=["word", "start_s", "end_s", "segment"])


def test_phrases_end_at_a_pause_a_new_speech_span_or_their_length() -> None:
    found = phrases(
        timed_words(
            ("the", 0.0, 0.2, 0),
            ("keeper", 0.25, 0.6, 0),
            ("waves", 0.6 + PHRASE_GAP_S, 1.5, 0),  # after a pause
            ("at", 1.5, 1.6, 1),  # a new speech span
            *((f"w{n}", 2.0 + n, 2.5 + n, 1) for n in range(5)),  # longer than PHRASE_MAX_S
        )
    )
    assert found[:2] == [(0.0, 0.6, "the keeper"), (1.2, 1.5, "waves")]
    assert [text for _, _, text in found[2:]] == ["at w0 w1 w2 w3", "w4"]
    assert all(end - start <= PHRASE_MAX_S for start, end, _ in found)
    assert phrases(timed_words()) == []


def test_an_items_language_is_its_sources_else_the_default(home: Settings) -> None:
    home = home.model_copy(update={"sources_file": home.home / "sources.yaml"})
    home.sources_file.parent.mkdir(parents=True, exist_ok=True)
    home.sources_file.write_text(
        "sources:\n"
        "  - {name: seoul, kind: local, path: /tmp, language: ko}\n"
        "  - {name: plain, kind: local, path: /tmp}\n",
        encoding="utf-8",
    )
    assert item_language(home, "seoul") == "ko"
    assert item_language(home, "plain") == "en"
    assert item_language(home, "not-declared") == "en"


def silent_audio(seconds: float = 2.0) -> bytes:
    return mux("ipod", audio=np.zeros(round(seconds * 48_000), dtype=np.float32))


def onset_of_second_word(sentence: str) -> float:
    """When the second word of ``words.spoken_clip(sentence)`` begins: the half second of
    quiet, then the first word as espeak-ng says it alone."""
    first = words.synthesise(sentence.split()[0])
    voiced = np.flatnonzero(np.abs(first) > 0.01)
    return 0.5 + float(voiced[-1] + 1) / words.AUDIO_SAMPLE_RATE


def test_a_word_said_and_a_word_shown_are_found_at_their_second(
    home: Settings, catalog: CatalogEditor
) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make test installs it): no speech to recognise")
    catalog.write(
        [
            {**catalog.media_row("spoken", words.spoken_clip()), "kind": "video"},
            {**catalog.media_row("shown", words.captioned_clip()), "kind": "video"},
            {**catalog.media_row("mute", make_video(1, with_audio=False)), "kind": "video"},
            {**catalog.media_row("quiet", silent_audio()), "kind": "audio"},
            {**catalog.media_row("corrupt", b"RIFF\x00\x00\x00\x00WAVEjunk" * 64), "kind": "audio"},
        ]
    )
    assert current_model("speech", home) is None  # not registered yet: speech is skipped
    name, version = ensure_speech_model(home.tracking_uri, "en")
    speech = current_model("speech", home)
    assert speech is not None and speech.model_version == f"en.{version}"

    outcome = run_refresh("run-1", home)
    assert outcome.published is not None
    ledger = PredictionsStore(home).read_ledger().set_index(["task", "item_id"])
    assert ledger.loc[("speech", "corrupt"), "status"] == "failed"
    reason = ledger.loc[("speech", "corrupt"), "reason"]
    assert "cannot open" in reason and "invalid data" in reason.lower()
    for quiet in ("mute", "quiet", "spoken", "shown"):
        assert ledger.loc[("speech", quiet), "status"] == "ok"
    said = PredictionsStore(home).read_predictions("speech")
    assert set(said["model_name"]) == {name}
    shares = said[said["start_s"].isna()].set_index(["item_id", "label"])["score"]
    assert shares[("quiet", "other")] == 1.0 and shares[("mute", "other")] == 1.0
    assert shares[("spoken", "speech")] > 0.5
    assert not said[said["item_id"].isin(["quiet", "mute"]) & said["start_s"].notna()].size

    onset = onset_of_second_word(words.SPOKEN_SENTENCE)
    with closing(PublishedIndex.open(home)) as index:
        hits = index.search(SearchQuery(q=words.SPOKEN_WORD, level="segment")).hits
        (phrase,) = [hit for hit in hits if hit.item_id == "spoken"]
        assert phrase.labels == ["speech"] and phrase.start_s is not None
        assert phrase.end_s is not None and phrase.end_s - phrase.start_s <= PHRASE_MAX_S
        assert phrase.start_s - 1.0 <= onset <= phrase.end_s + 1.0
        assert phrase.snippet is not None and f"<b>{words.SPOKEN_WORD}</b>" in phrase.snippet

        hits = index.search(SearchQuery(q=words.CAPTION_WORD, level="segment")).hits
        (caption,) = [hit for hit in hits if hit.item_id == "shown"]
        assert caption.labels == ["text"]
        assert caption.start_s == pytest.approx(words.CAPTION_SPAN_S[0], abs=1.0)
        assert caption.end_s == pytest.approx(words.CAPTION_SPAN_S[1], abs=1.0)

        spoken = index.item("spoken")
        assert spoken is not None and "speech" in spoken["item"]["labels"]
        assert any(words.SPOKEN_WORD in line["text"] for line in spoken["transcript"])
        shown = index.item("shown")
        assert shown is not None and shown["screen_text"][0]["text"] == words.CAPTION
