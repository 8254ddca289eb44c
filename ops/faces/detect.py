"""Faces in one picture: detect (dlib's HOG detector, or its CNN), align on 5 landmarks,
refuse poor faces with a reason, and describe each kept face by the pretrained ResNet's
128-d descriptor (faces of one person lie within about 0.6 of each other).

The pretrained files ship inside the ``face_recognition_models`` wheel. Importing that
package fails on current setuptools (it imports ``pkg_resources``), so its folder is
located without importing it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

MODEL_PACKAGE = "face_recognition_models"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR_FILE = "mmod_human_face_detector.dat"
CHIP_SIZE = 150
"""Side of the aligned face chip the ResNet reads (its training size)."""
CHIP_PADDING = 0.25
DESCRIPTOR_DIM = 128

Refusal = Literal["too_small", "blurred", "turned_away"]


class MissingFaceModels(FileNotFoundError):
    """The pretrained face files are not installed."""


def model_file(name: str) -> Path:
    """A pretrained file of ``face_recognition_models``, found without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "models" / name
        if path.is_file():
            return path
    raise MissingFaceModels(
        f"{name} not found: install the {MODEL_PACKAGE} package (`make venv` does)"
    )


class FaceSettings(BaseModel):
    """How faces are found and which are kept."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    detector: Literal["hog", "cnn"] = Field(
        default="hog", description="hog (fast, frontal) or cnn (slower, more poses)"
    )
    upsample: int = Field(
        default=1, ge=0, le=3, description="times the picture is doubled to find small faces"
    )
    min_size_px: int = Field(default=32, ge=8, description="smallest face side kept, in pixels")
    min_sharpness: float = Field(
        default=10.0, ge=0, description="least variance of the Laplacian of the aligned face"
    )
    max_turn: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="largest sideways turn kept: 0 frontal, 1 the nose level with an eye",
    )


class Face(BaseModel):
    """One kept face: where it is, how good it is, and its descriptor."""

    model_config = ConfigDict(frozen=True)

    box: tuple[int, int, int, int]
    """x0, y0, x1, y1 in the picture's pixels."""
    landmarks: list[tuple[float, float]]
    size_px: int
    sharpness: float
    turn: float
    detection_score: float
    descriptor: list[float]

    def columns(self) -> dict[str, Any]:
        """The face as table columns (box corners apart), as the store and the
        face-embedder model write it."""
        x0, y0, x1, y1 = self.box
        fields = ("size_px", "sharpness", "turn", "detection_score", "descriptor")
        return {"x0": x0, "y0": y0, "x1": x1, "y1": y1} | {f: getattr(self, f) for f in fields}


class FacesFound(BaseModel):
    """The kept faces of one picture, largest first, and the refused ones by reason."""

    model_config = ConfigDict(frozen=True)

    faces: list[Face]
    refused: dict[str, int] = Field(default_factory=dict)

    @property
    def detected(self) -> int:
        return len(self.faces) + sum(self.refused.values())


MODEL_FILES = {
    "landmarks": LANDMARKS_FILE,
    "descriptor": DESCRIPTOR_FILE,
    "cnn_detector": CNN_DETECTOR_FILE,
}
"""The pretrained files a FaceAnalyser reads, by role."""


class FaceAnalyser:
    """dlib's detector, landmarks and descriptor network, loaded on first use.

    ``files`` gives the pretrained files by role (MODEL_FILES), as an MLflow model's
    artifacts do; by default they come from the installed package."""

    def __init__(
        self, settings: FaceSettings | None = None, files: Mapping[str, Path] | None = None
    ) -> None:
        self.settings = settings or FaceSettings()
        self._files = dict(files) if files else {}

    def _file(self, role: str) -> Path:
        return self._files.get(role) or model_file(MODEL_FILES[role])

    @cached_property
    def _dlib(self) -> Any:
        import dlib

        return dlib

    @cached_property
    def _detector(self) -> Any:
        if self.settings.detector == "cnn":
            return self._dlib.cnn_face_detection_model_v1(str(self._file("cnn_detector")))
        return self._dlib.get_frontal_face_detector()

    @cached_property
    def _landmarks(self) -> Any:
        return self._dlib.shape_predictor(str(self._file("landmarks")))

    @cached_property
    def _descriptor(self) -> Any:
        return self._dlib.face_recognition_model_v1(str(self._file("descriptor")))

    def analyse(self, picture: np.ndarray) -> FacesFound:
        """Faces of an RGB (or grey) uint8 picture."""
        rgb = as_rgb(picture)
        faces: list[Face] = []
        refused: dict[str, int] = {}
        for rect, score in self._detect(rgb):
            face = self._examine(rgb, rect, float(score))
            if isinstance(face, Face):
                faces.append(face)
            else:
                refused[face] = refused.get(face, 0) + 1
        faces.sort(key=lambda face: -face.size_px)
        return FacesFound(faces=faces, refused=refused)

    def boxes(self, picture: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Where the picture's faces are (detection only: no alignment or descriptor)."""
        return [_corners(rect) for rect, _ in self._detect(as_rgb(picture))]

    def describe_box(
        self, picture: np.ndarray, box: tuple[int, int, int, int]
    ) -> tuple[list[float], str | None]:
        """The descriptor of the face detected at ``box``, or no descriptor and the
        quality filter's reason."""
        face = self._examine(as_rgb(picture), self._dlib.rectangle(*box), 0.0)
        return (face.descriptor, None) if isinstance(face, Face) else ([], face)

    def _examine(self, rgb: np.ndarray, rect: Any, score: float) -> Face | Refusal:
        """Align a detected face, check its quality, and describe it."""
        shape = self._landmarks(rgb, rect)
        points = [(float(p.x), float(p.y)) for p in shape.parts()]
        size = int(min(rect.width(), rect.height()))
        chip = self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        sharpness = laplacian_variance(chip)
        turn = sideways_turn(points)
        reason = self._refusal(size, sharpness, turn)
        if reason is not None:
            return reason
        descriptor = self._descriptor.compute_face_descriptor(chip)
        return Face(
            box=_corners(rect),
            landmarks=points,
            size_px=size,
            sharpness=round(sharpness, 2),
            turn=round(turn, 3),
            detection_score=round(score, 3),
            descriptor=[float(value) for value in descriptor],
        )

    def _detect(self, rgb: np.ndarray) -> list[tuple[Any, float]]:
        if self.settings.detector == "cnn":
            found = self._detector(rgb, self.settings.upsample)
            return [(item.rect, item.confidence) for item in found]
        rects, scores, _ = self._detector.run(rgb, self.settings.upsample, 0.0)
        return list(zip(rects, scores, strict=True))

    def _refusal(self, size: int, sharpness: float, turn: float) -> Refusal | None:
        if size < self.settings.min_size_px:
            return "too_small"
        if sharpness < self.settings.min_sharpness:
            return "blurred"
        if turn > self.settings.max_turn:
            return "turned_away"
        return None


def _corners(rect: Any) -> tuple[int, int, int, int]:
    return (rect.left(), rect.top(), rect.right(), rect.bottom())


def as_rgb(picture: np.ndarray) -> np.ndarray:
    """A C-contiguous uint8 RGB copy dlib accepts (grey pictures are repeated)."""
    array = np.asarray(picture)
    if array.dtype != np.uint8:
        raise ValueError(f"a picture must be uint8, got {array.dtype}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, np.newaxis], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"a picture must be HxW, HxWx3 or HxWx4, got {array.shape}")
    return np.ascontiguousarray(array[:, :, :3])


def laplacian_variance(chip: np.ndarray) -> float:
    """Sharpness of an aligned face: the variance of its Laplacian (low when blurred)."""
    grey = cv2.cvtColor(np.asarray(chip), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def sideways_turn(points: list[tuple[float, float]]) -> float:
    """How far the head is turned, from dlib's 5 landmarks (two corners of each eye, then
    the base of the nose): where the nose falls along the line between the eye centres,
    0 at the middle (frontal), 1 level with an eye."""
    if len(points) != 5:
        raise ValueError(f"expected 5 landmarks, got {len(points)}")
    marks = np.asarray(points, dtype=np.float64)
    right_eye, left_eye, nose = marks[0:2].mean(axis=0), marks[2:4].mean(axis=0), marks[4]
    axis = left_eye - right_eye
    length = float(axis @ axis)
    if length == 0:
        return 1.0
    along = float((nose - right_eye) @ axis) / length
    return min(1.0, abs(along - 0.5) * 2)
