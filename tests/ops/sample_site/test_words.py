"""The sample site's word clips: a caption on screen for its span, a sentence spoken."""

from __future__ import annotations

import io
import shutil

import av
import numpy as np
import pytest

from ops.sample_site import words


def test_the_caption_is_on_screen_for_its_span_only() -> None:
    with av.open(io.BytesIO(words.captioned_clip())) as clip:
        frames = [frame.to_ndarray(format="gray") for frame in clip.decode(video=0)]
    # the caption's black band and white letters make the bottom rows far more varied
    spread = np.asarray([frame[-40:].std() for frame in frames])
    shown = (np.arange(len(frames)) / words.FPS >= words.CAPTION_SPAN_S[0]) & (
        np.arange(len(frames)) / words.FPS < words.CAPTION_SPAN_S[1]
    )
    assert spread[shown].min() > 3 * spread[~shown].max()


def test_the_sentence_is_heard_between_quiet_ends() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make test installs it: Debian package espeak-ng)")
    with av.open(io.BytesIO(words.spoken_clip())) as clip:
        rate = clip.streams.audio[0].rate
        audio = np.concatenate([f.to_ndarray().mean(axis=0) for f in clip.decode(audio=0)])
    quarter = rate // 4
    loud = np.sqrt(np.mean(audio[len(audio) // 3 : 2 * len(audio) // 3] ** 2))
    assert loud > 10 * np.sqrt(np.mean(audio[:quarter] ** 2))


def test_without_espeak_ng_there_is_no_spoken_clip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(words.NoSpeechSynthesiser, match="espeak-ng is not installed"):
        words.synthesise("hello")
