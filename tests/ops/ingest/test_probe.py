from pathlib import Path

import pytest

from ops.ingest.probe import probe_file
from ops.sample_site.media import make_image, make_music, make_video, png_bomb, truncated_copy

CAP = 50_000_000


@pytest.fixture(scope="module")
def video_bytes() -> bytes:
    return make_video(0, seconds=2.0, size=(160, 120), fps=12)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_video_properties(tmp_path: Path, video_bytes: bytes) -> None:
    result = probe_file(write(tmp_path, "v.mp4", video_bytes), max_pixels=CAP)
    assert result.error is None
    assert result.kind == "video"
    assert (result.width, result.height) == (160, 120)
    assert result.fps == pytest.approx(12, rel=0.01)
    assert result.duration_s == pytest.approx(2.0, abs=0.3)
    assert result.audio_channels and result.audio_channels >= 1
    assert result.video_codec == "h264" and result.frames_decoded and result.frames_decoded >= 2


def test_truncated_video_is_not_decodable(tmp_path: Path, video_bytes: bytes) -> None:
    result = probe_file(write(tmp_path, "t.mp4", truncated_copy(video_bytes)), max_pixels=CAP)
    assert result.error is not None and "Invalid data" in result.error


def test_music(tmp_path: Path) -> None:
    result = probe_file(write(tmp_path, "m.m4a", make_music(1, genre="jazz")), max_pixels=CAP)
    assert result.error is None and result.kind == "audio"
    assert result.audio_sample_rate and result.duration_s and result.duration_s > 1


def test_image_and_pixel_cap(tmp_path: Path) -> None:
    image = write(tmp_path, "i.jpg", make_image(2, mood="calm"))
    result = probe_file(image, max_pixels=CAP)
    assert result.error is None and result.kind == "image" and result.mime == "image/jpeg"
    bomb = probe_file(write(tmp_path, "b.png", png_bomb()), max_pixels=CAP)
    assert bomb.kind == "image" and bomb.error is not None and "pixel cap" in bomb.error
    assert (bomb.width, bomb.height) == (40000, 40000)


def test_garbage(tmp_path: Path) -> None:
    result = probe_file(write(tmp_path, "x.mp4", b"not media at all" * 50), max_pixels=CAP)
    assert result.error is not None and "Invalid data" in result.error
