"""Face detection, alignment, quality filter and descriptors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ops.faces.detect import FaceAnalyser, FaceSettings, as_rgb, model_file, sideways_turn
from ops.faces.pictures import UnreadablePicture, read_picture


def test_the_pretrained_files_are_found_without_importing_their_package() -> None:
    assert model_file("dlib_face_recognition_resnet_model_v1.dat").stat().st_size > 1_000_000


def test_a_frontal_face_has_no_turn_and_a_profile_a_full_one() -> None:
    eyes = [(60.0, 50.0), (50.0, 50.0), (10.0, 50.0), (20.0, 50.0)]
    assert sideways_turn([*eyes, (35.0, 80.0)]) == pytest.approx(0.0)
    assert sideways_turn([*eyes, (55.0, 80.0)]) == pytest.approx(1.0)


def test_pictures_become_rgb_and_bad_ones_are_refused() -> None:
    assert as_rgb(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert as_rgb(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    with pytest.raises(ValueError, match="must be uint8"):
        as_rgb(np.zeros((4, 5), np.float32))


def test_an_unreadable_picture_names_its_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(UnreadablePicture, match="not a readable picture"):
        read_picture(broken)


def test_a_blank_picture_has_no_face() -> None:
    found = FaceAnalyser().analyse(np.full((120, 100, 3), 128, np.uint8))
    assert (found.faces, found.refused, found.detected) == ([], {}, 0)


def test_faces_of_one_person_are_closer_than_faces_of_two(shared_data: Path) -> None:
    analyser = FaceAnalyser()
    faces = {
        name: analyser.analyse(read_picture(shared_data / "faces" / "orl_dev" / name)).faces
        for name in ("s1/1.pgm", "s1/3.pgm", "s2/1.pgm")
    }
    assert all(len(found) == 1 for found in faces.values())
    same = np.linalg.norm(
        np.subtract(faces["s1/1.pgm"][0].descriptor, faces["s1/3.pgm"][0].descriptor)
    )
    other = np.linalg.norm(
        np.subtract(faces["s1/1.pgm"][0].descriptor, faces["s2/1.pgm"][0].descriptor)
    )
    assert same < 0.5 < other
    assert len(faces["s1/1.pgm"][0].descriptor) == 128


def test_the_quality_filter_counts_its_refusals(shared_data: Path) -> None:
    picture = read_picture(shared_data / "faces" / "orl_dev" / "s1" / "1.pgm")
    strict = FaceAnalyser(FaceSettings(min_size_px=200)).analyse(picture)
    assert (strict.faces, strict.refused) == ([], {"too_small": 1})
    blurred = FaceAnalyser(FaceSettings(min_sharpness=1e9)).analyse(picture)
    assert blurred.refused == {"blurred": 1}
