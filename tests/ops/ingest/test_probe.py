import io
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from ops.ingest.probe import is_readable_media, probe_file
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


def encoded_video(
    steps_ms: list[int],
    *,
    size: tuple[int, int] = (64, 48),
    rotation: int | None = None,
    sample_aspect_ratio: Fraction | None = None,
) -> bytes:
    """An H.264 MP4 whose frames are ``steps_ms`` apart, optionally rotated or anamorphic."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        if sample_aspect_ratio is not None:
            stream.codec_context.sample_aspect_ratio = sample_aspect_ratio
        if rotation is not None:
            stream.set_display_rotation(rotation)
        pts = 0
        for step in [*steps_ms, 40]:
            picture = np.full((size[1], size[0], 3), pts % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            container.mux(stream.encode(frame))
            pts += step
        container.mux(stream.encode())
    return buffer.getvalue()


def test_rotated_video_records_rotation_and_display_size(tmp_path: Path) -> None:
    clip = write(tmp_path, "r.mp4", encoded_video([40] * 12, size=(64, 48), rotation=90))
    result = probe_file(clip, max_pixels=CAP)
    assert result.error is None
    assert (result.width, result.height, result.rotation) == (64, 48, 90)
    assert (result.display_width, result.display_height) == (48, 64)


def test_upright_video_has_no_rotation(tmp_path: Path, video_bytes: bytes) -> None:
    result = probe_file(write(tmp_path, "v.mp4", video_bytes), max_pixels=CAP)
    assert (result.rotation, result.display_width, result.display_height) == (0, 160, 120)
    assert result.sample_aspect_ratio in (None, 1.0)


def test_anamorphic_video_records_sample_aspect_ratio(tmp_path: Path) -> None:
    clip = encoded_video([40] * 12, size=(64, 48), sample_aspect_ratio=Fraction(4, 3))
    result = probe_file(write(tmp_path, "a.mp4", clip), max_pixels=CAP)
    assert result.sample_aspect_ratio == pytest.approx(4 / 3, abs=1e-3)
    assert (result.display_width, result.display_height) == (85, 48)


def test_variable_frame_rate_is_detected(tmp_path: Path) -> None:
    clip = encoded_video([40, 40, 80] * 8)  # every third frame dropped
    result = probe_file(write(tmp_path, "vfr.mp4", clip), max_pixels=CAP)
    assert result.error is None and result.vfr is True
    assert result.min_fps == pytest.approx(12.5, rel=0.01)
    assert result.max_fps == pytest.approx(25, rel=0.01)


def test_constant_frame_rate_is_not_vfr(tmp_path: Path, video_bytes: bytes) -> None:
    result = probe_file(write(tmp_path, "v.mp4", video_bytes), max_pixels=CAP)
    assert result.vfr is False
    assert result.min_fps == pytest.approx(12, rel=0.01) == result.max_fps


def test_audio_has_no_picture_properties(tmp_path: Path) -> None:
    result = probe_file(write(tmp_path, "m.m4a", make_music(1, genre="jazz")), max_pixels=CAP)
    assert (result.vfr, result.rotation, result.display_width) == (None, None, None)


def test_truncated_video_says_truncated(tmp_path: Path, video_bytes: bytes) -> None:
    result = probe_file(write(tmp_path, "t.mp4", truncated_copy(video_bytes)), max_pixels=CAP)
    assert result.error is not None and result.error.startswith("truncated: the file ends at")
    assert "'mdat' box" in result.error


def test_truncated_wav_says_truncated(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(16_000)
        track.writeframes(bytes(64_000))
    result = probe_file(write(tmp_path, "t.wav", truncated_copy(buffer.getvalue())), max_pixels=CAP)
    assert result.error is not None and result.error.startswith("truncated: the file ends at")
    assert "RIFF header" in result.error


@pytest.mark.parametrize(
    ("name", "readable"),
    [("photo.pgm", True), ("clip.bin", True), ("notes.txt", False), ("empty", False)],
)
def test_readable_media_is_recognised_by_content(
    tmp_path: Path, video_bytes: bytes, name: str, readable: bool
) -> None:
    picture = io.BytesIO()
    Image.new("L", (40, 30), 128).save(picture, format="PPM")
    contents = {
        "photo.pgm": picture.getvalue(),
        "clip.bin": video_bytes,
        "notes.txt": b"shot list: opening, chase, finale\n" * 20,
        "empty": b"",
    }
    with write(tmp_path, name, contents[name]).open("rb") as handle:
        assert is_readable_media(handle) is readable


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
