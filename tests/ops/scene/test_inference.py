"""score_file: every 1-s segment of a file scored and embedded, whatever the batch size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.contracts import AudioContract, FrameContract
from models.scene import SceneClassifier
from ops.media.decode import MediaDecodeError
from ops.sample_site.media import make_video
from ops.scene.features import iter_segments, to_tensors
from ops.scene.inference import score_file

FRAMES = FrameContract(frames_per_segment=1, height=32, width=32)


@pytest.fixture(scope="module")
def model() -> SceneClassifier:
    torch.manual_seed(0)
    return SceneClassifier(["kiss", "hug"], FRAMES, AudioContract(), width_multiplier=0.125).eval()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    path.write_bytes(make_video(3, seconds=5.0, size=(64, 48), fps=8))
    return path


def test_every_segment_gets_scores_and_an_embedding(model: SceneClassifier, video: Path) -> None:
    scored = score_file(model, video)
    assert len(scored) == 5
    assert scored.scores.shape == (5, 2) and scored.vectors.shape == (5, model.embedding_dim)
    assert ((scored.scores >= 0) & (scored.scores <= 1)).all()
    assert np.allclose(scored.times, [[s, s + 1] for s in range(5)], atol=0.2)


def test_the_batch_size_does_not_change_the_answer(model: SceneClassifier, video: Path) -> None:
    whole, single = score_file(model, video), score_file(model, video, batch_size=1)
    assert np.allclose(whole.scores, single.scores, atol=1e-5)
    assert np.allclose(whole.vectors, single.vectors, atol=1e-5)


def test_scores_match_the_model_on_the_same_segments(model: SceneClassifier, video: Path) -> None:
    segments = list(iter_segments(video, FRAMES, AudioContract()))
    frames, audio = to_tensors(segments, FRAMES)
    expected = model.predict_proba(frames.contiguous(), audio).numpy()
    assert np.allclose(score_file(model, video).scores, expected, atol=1e-5)


def test_an_undecodable_file_raises(model: SceneClassifier, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(MediaDecodeError):
        score_file(model, broken)


def test_rows_grow_past_their_first_block_and_keep_every_row() -> None:
    from ops.scene.inference import _Rows

    rows = _Rows(3, np.float32)
    expected = np.arange(1000 * 3, dtype=np.float32).reshape(1000, 3)
    for start in range(0, 1000, 32):
        rows.extend(expected[start : start + 32])
    assert np.array_equal(rows.view(), expected)


def test_an_image_gets_the_frame_branch_vector_of_its_picture(
    model: SceneClassifier, tmp_path: Path
) -> None:
    from ops.sample_site.media import make_image
    from ops.scene.inference import embed_image

    image = tmp_path / "still.png"
    image.write_bytes(make_image(1, mood="calm", image_format="png"))
    embedded = embed_image(model, image)
    frame_dim = model.embedding_dim - model.audio_embedding_dim
    assert embedded.vector.shape == (model.embedding_dim,) and embedded.parts == 1
    assert np.linalg.norm(embedded.vector[:frame_dim]) == pytest.approx(1.0, abs=1e-5)
    assert not embedded.vector[frame_dim:].any()  # no sound


def test_an_audio_track_gets_the_mean_audio_branch_vector(
    model: SceneClassifier, tmp_path: Path
) -> None:
    from ops.sample_site.media import make_music
    from ops.scene.inference import embed_audio

    track = tmp_path / "track.wav"
    track.write_bytes(make_music(2, genre="jazz", seconds=3.0, container="wav"))
    embedded = embed_audio(model, track)
    frame_dim = model.embedding_dim - model.audio_embedding_dim
    assert embedded.vector.shape == (model.embedding_dim,) and embedded.parts == 3
    assert not embedded.vector[:frame_dim].any()  # no pictures
    assert np.linalg.norm(embedded.vector[frame_dim:]) > 0.5
    single = embed_audio(model, track, batch_size=1)
    np.testing.assert_allclose(single.vector, embedded.vector, atol=1e-5)
