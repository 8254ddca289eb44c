"""From the catalog and the predictions store to search documents and their vectors.

Every ok catalog item gets an item document (its metadata, the labels the models found
in it, the lineage of those predictions). The ``scene`` task's 1-s scores are joined into
scenes with the same :class:`Segmentor` settings that training evaluated, one segment
document per scene; the ``shots`` task's rows give one segment document per shot, with
its keyframe time; the ``faces`` task's rows one ``appearance`` document per span a named
person is on screen (the person in ``people``, also added to the item's); the ``speech``
task's phrases one ``speech`` document each (its words in ``transcript``), the ``ocr``
task's captions one ``text`` document each (in ``screen_text``), and the item document
holds all of its words of both, so a word finds the item and the second it is said or
shown. An item whose speech share reaches ``SPEECH_SHARE_LABEL`` is labelled ``speech``.
Vectors are
unit-length so inner product is cosine: an item's is its item-level embedding, a scene's
or a shot's the mean of the 1-s embeddings inside it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ops.index.provenance import LabelPolicy
from ops.index.schema import DOCUMENT_COLUMNS
from ops.refresh.mood_genre import GENRE_TASK, MOOD_TASK
from ops.refresh.tasks import KEYFRAME_LABEL, SHOT_LABEL
from ops.refresh.words import OCR_TASK, SPEECH_TASK
from ops.scene.segmentor import Scene, Segmentor
from ops.settings import Settings

log = logging.getLogger(__name__)

SCENE_TASK = "scene"
"""The task whose 1-s scores become segment documents and whose embeddings are the vectors."""

SHOTS_TASK = "shots"
"""The task whose shot and keyframe rows become shot documents."""
FACES_TASK = "faces"
"""The task whose rows (a named person's face track) become appearance documents."""
APPEARANCE_LABEL = "appearance"
"""The label of an appearance document (its person is in ``people``), as shots have
``shot``: ``?label=appearance&person=X`` lists where X is on screen."""

SPEECH_LABEL = "speech"
"""The label of a phrase's document, and of an item that speaks (see SPEECH_SHARE_LABEL)."""
SCREEN_TEXT_LABEL = "text"
"""The label of a caption's document: ``?label=text`` lists where text is shown."""
SPEECH_SHARE_LABEL = 0.1
"""An item is labelled ``speech`` when at least this share of its seconds is speech."""
WORD_TASKS = (SPEECH_TASK, OCR_TASK)
"""Tasks whose labels are text said or shown, not classes."""

SEGMENT_S = 1.0
"""Width of a prediction bucket (the Segment contract of DESIGN.md)."""

_LINEAGE_COLUMNS = ("task", "model_name", "model_version", "dataset_rev")
_METADATA_COLUMNS = (
    "item_id",
    "kind",
    "source",
    "url",
    "title",
    "description",
    "year",
    "duration_s",
    "tags",
    "people",
)


def scene_segmentor(settings: Settings) -> Segmentor:
    """The segmentor with the threshold and scene lengths of the scene params file."""
    from ops.scene.pipeline import load_params

    params = load_params(settings)
    return Segmentor(params.threshold, params.min_scene_s, params.max_gap_s)


@dataclass
class _Vectors:
    """Unit vectors collected while documents are made; row i is ``vector_row`` i."""

    rows: list[np.ndarray]

    def add(self, vector: np.ndarray | None) -> int:
        if vector is None:
            return -1
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0.0:
            return -1
        self.rows.append((vector / norm).astype(np.float32))
        return len(self.rows) - 1

    def matrix(self) -> np.ndarray:
        if not self.rows:
            return np.zeros((0, 0), dtype=np.float32)
        dims = {row.shape[0] for row in self.rows}
        if len(dims) > 1:
            raise ValueError(f"embeddings of the {SCENE_TASK!r} task differ in size: {dims}")
        return np.vstack(self.rows)


def build_documents(
    catalog: pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame],
    embeddings: Mapping[str, pd.DataFrame],
    segmentor: Segmentor,
    policy: LabelPolicy | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Documents (DOCUMENT_SCHEMA columns) and their unit vectors (``vector_row`` -> row).

    ``policy`` says which models' labels are withheld (their embeddings still count),
    each label's decision threshold and each model's training data, which the lineage
    shows; without one every label is published at the segmentor's threshold.

    ``catalog`` holds Item rows (only ``status == "ok"`` ones are indexed); ``predictions``
    and ``embeddings`` map a task to its PREDICTION_SCHEMA / EMBEDDING_SCHEMA frame.
    Documents are ordered by item, the item document first, then its scenes by start.
    """
    items = _ok_items(catalog)
    known = set(items["item_id"])
    predictions = {task: _known_rows(frame, known, task) for task, frame in predictions.items()}
    lineage = _lineage(predictions, policy)
    policy = policy or LabelPolicy()
    predictions = {task: policy.published(frame) for task, frame in predictions.items()}
    scene_embeddings = _known_rows(
        embeddings.get(SCENE_TASK, pd.DataFrame(columns=["item_id"])), known, SCENE_TASK
    )
    scene_rows = predictions.get(SCENE_TASK)
    scenes = _scenes(scene_rows, segmentor, policy) if scene_rows is not None else {}
    shot_rows = predictions.get(SHOTS_TASK)
    shots = _shots(shot_rows) if shot_rows is not None else {}
    face_rows = predictions.get(FACES_TASK)
    appearances = _appearances(face_rows) if face_rows is not None else {}
    genres = _top_labels(predictions.get(GENRE_TASK))
    moods = _top_labels(predictions.get(MOOD_TASK))
    shot_moods = _span_labels(predictions.get(MOOD_TASK))
    said = _texts(predictions.get(SPEECH_TASK))
    shown = _texts(predictions.get(OCR_TASK))
    speaking = _speaking_items(predictions.get(SPEECH_TASK))
    labelled = {
        k: v for k, v in predictions.items() if k not in (GENRE_TASK, MOOD_TASK, *WORD_TASKS)
    }
    whole_labels = _whole_item_labels(labelled, segmentor.threshold, policy)
    item_vectors, segment_vectors = _embedding_lookup(scene_embeddings)

    vectors = _Vectors([])
    documents: list[dict[str, object]] = []
    for item in items.to_dict("records"):
        item_id = str(item["item_id"])
        item_scenes = scenes.get(item_id, [])
        labels = sorted(
            whole_labels.get(item_id, set())
            | {scene.label for scene in item_scenes}
            | ({SPEECH_LABEL} if item_id in speaking else set())
        )
        item_lineage = lineage.get(item_id, [])
        seen = [row.person for row in appearances.get(item_id, [])]
        documents.append(
            _document(
                item,
                doc_id=item_id,
                level="item",
                labels=labels,
                lineage=item_lineage,
                vector_row=vectors.add(item_vectors.get(item_id)),
                people=list(dict.fromkeys([*_as_list(item["people"]), *seen])),
                genres=genres.get(item_id, []),
                moods=moods.get(item_id, []),
                transcript=_joined([text.text for text in said.get(item_id, [])]),
                screen_text=_joined(list(dict.fromkeys(t.text for t in shown.get(item_id, [])))),
            )
        )
        scene_lineage = [entry for entry in item_lineage if entry["task"] == SCENE_TASK]
        for scene in item_scenes:
            documents.append(
                _document(
                    item,
                    doc_id=f"{item_id}/scene/{scene.label}/{scene.start_s:g}-{scene.end_s:g}",
                    level="segment",
                    labels=[scene.label],
                    lineage=scene_lineage,
                    vector_row=vectors.add(
                        _mean_vector(segment_vectors.get(item_id), scene.start_s, scene.end_s)
                    ),
                    span=(scene.start_s, scene.end_s),
                    score=scene.score,
                )
            )
        shot_lineage = [entry for entry in item_lineage if entry["task"] == SHOTS_TASK]
        for shot in shots.get(item_id, []):
            documents.append(
                _document(
                    item,
                    doc_id=f"{item_id}/shot/{shot.start_s:g}-{shot.end_s:g}",
                    level="segment",
                    labels=[SHOT_LABEL],
                    lineage=shot_lineage,
                    vector_row=vectors.add(
                        _mean_vector(segment_vectors.get(item_id), shot.start_s, shot.end_s)
                    ),
                    span=(shot.start_s, shot.end_s),
                    keyframe_s=shot.keyframe_s,
                    moods=shot_moods.get((item_id, _span_key(shot.start_s, shot.end_s)), []),
                )
            )
        face_lineage = [entry for entry in item_lineage if entry["task"] == FACES_TASK]
        for row in appearances.get(item_id, []):
            documents.append(
                _document(
                    item,
                    doc_id=f"{item_id}/face/{row.person}/{row.start_s:g}-{row.end_s:g}",
                    level="segment",
                    labels=[APPEARANCE_LABEL],
                    lineage=face_lineage,
                    vector_row=-1,
                    span=(row.start_s, row.end_s),
                    score=row.score,
                    people=[row.person],
                )
            )
        for kind, texts in (("speech", said), ("text", shown)):
            entries = [entry for entry in item_lineage if entry["task"] in WORD_TASKS]
            for number, text in enumerate(t for t in texts.get(item_id, []) if t.timed):
                documents.append(
                    _document(
                        item,
                        doc_id=f"{item_id}/{kind}/{text.start_s:g}-{text.end_s:g}/{number}",
                        level="segment",
                        labels=[SPEECH_LABEL if kind == "speech" else SCREEN_TEXT_LABEL],
                        lineage=[e for e in entries if e["task"] == text.task],
                        vector_row=-1,
                        span=(text.start_s, text.end_s),
                        score=text.score,
                        transcript=text.text if kind == "speech" else None,
                        screen_text=text.text if kind == "text" else None,
                    )
                )
    frame = pd.DataFrame(documents, columns=list(DOCUMENT_COLUMNS))
    return frame, vectors.matrix()


def item_moods(documents: pd.DataFrame) -> dict[str, str]:
    """item_id -> mood, for the items whose document has one."""
    items = documents[documents["level"] == "item"]
    return {
        str(item): str(moods[0])
        for item, moods in zip(items["doc_id"], items["moods"], strict=True)
        if len(moods)
    }


def item_vectors(documents: pd.DataFrame, vectors: np.ndarray) -> dict[str, np.ndarray]:
    """item_id -> unit content vector, for the items whose document has one."""
    items = documents[(documents["level"] == "item") & (documents["vector_row"] >= 0)]
    return {
        str(item_id): vectors[int(row)]
        for item_id, row in zip(items["item_id"], items["vector_row"], strict=True)
    }


def _ok_items(catalog: pd.DataFrame) -> pd.DataFrame:
    missing = [column for column in (*_METADATA_COLUMNS, "status") if column not in catalog]
    if missing:
        raise ValueError(f"catalog lacks the Item column(s) {missing}")
    items = catalog[catalog["status"] == "ok"]
    duplicated = items["item_id"][items["item_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"catalog lists ok items more than once: {sorted(set(duplicated))[:5]}")
    return items.sort_values("item_id", kind="stable")


def _known_rows(frame: pd.DataFrame, known: set[str], task: str) -> pd.DataFrame:
    """Rows of indexed items; outputs of items no longer ok are left out, and said so."""
    if frame.empty:
        return frame
    keep = frame["item_id"].isin(known)
    if not keep.all():
        stale = sorted(set(frame.loc[~keep, "item_id"]))
        log.warning(
            "%s: %d output rows of %d item(s) not ok in the catalog are not indexed (e.g. %s)",
            task,
            int((~keep).sum()),
            len(stale),
            ", ".join(stale[:3]),
        )
    return frame[keep]


def _scenes(
    rows: pd.DataFrame, segmentor: Segmentor, policy: LabelPolicy
) -> dict[str, list[Scene]]:
    """item_id -> scenes of every label, by start time, each at its model's threshold."""
    timed = rows[rows["start_s"].notna()]
    found: dict[str, list[Scene]] = {}
    keys = ["item_id", "label", "model_name", "model_version"]
    for (item_id, label, name, version), group in timed.groupby(keys, sort=True):
        threshold = policy.threshold(str(name), str(version), str(label), segmentor.threshold)
        model_segmentor = Segmentor(threshold, segmentor.min_length_s, segmentor.max_gap_s)
        starts = group["start_s"].to_numpy(dtype=np.float64)
        buckets = np.rint(starts / SEGMENT_S).astype(np.int64)
        if (buckets < 0).any():
            raise ValueError(f"{SCENE_TASK}: item {item_id} has segments starting before 0 s")
        scores = np.zeros(int(buckets.max()) + 1, dtype=np.float64)
        np.maximum.at(scores, buckets, group["score"].to_numpy(dtype=np.float64))
        media_end = float(group["end_s"].max())
        for scene in model_segmentor.segment(scores, segment_s=SEGMENT_S, label=str(label)):
            end = min(scene.end_s, media_end)
            found.setdefault(str(item_id), []).append(
                Scene(scene.label, scene.start_s, max(end, scene.start_s), scene.score)
            )
    for item_scenes in found.values():
        item_scenes.sort(key=lambda scene: (scene.start_s, scene.end_s, scene.label))
    return found


@dataclass(frozen=True)
class _Shot:
    """One shot's span and the time of its keyframe (None when no keyframe row lies in it)."""

    start_s: float
    end_s: float
    keyframe_s: float | None


def _shots(rows: pd.DataFrame) -> dict[str, list[_Shot]]:
    """item_id -> its shots by start, each with the keyframe row that falls inside it.

    The rows are sorted once and cut into items by position (pandas selections per item
    cost milliseconds each: most of a 100k-item build)."""
    timed = rows[rows["start_s"].notna()].sort_values(["item_id", "start_s"], kind="stable")
    items = timed["item_id"].astype(str).to_numpy()
    labels = timed["label"].to_numpy()
    starts = timed["start_s"].to_numpy(float)
    ends = timed["end_s"].to_numpy(float)
    found: dict[str, list[_Shot]] = {}
    names, firsts = np.unique(items, return_index=True)
    bounds = np.append(firsts, len(items))
    for item_id, first, last in zip(names, bounds[:-1], bounds[1:], strict=True):
        item_labels = labels[first:last]
        keyframes = starts[first:last][item_labels == KEYFRAME_LABEL]
        spans = np.flatnonzero(item_labels == SHOT_LABEL) + first
        item_shots = []
        for start, end in zip(starts[spans], ends[spans], strict=True):
            at = int(np.searchsorted(keyframes, start, "left"))
            inside = at < len(keyframes) and keyframes[at] < end
            item_shots.append(
                _Shot(float(start), float(end), float(keyframes[at]) if inside else None)
            )
        found[str(item_id)] = item_shots
    return found


@dataclass(frozen=True)
class _Appearance:
    person: str
    start_s: float
    end_s: float
    score: float


def _appearances(rows: pd.DataFrame) -> dict[str, list[_Appearance]]:
    """item_id -> when each named person is on screen, by start."""
    found: dict[str, list[_Appearance]] = {}
    timed = rows[rows["start_s"].notna()].sort_values(["item_id", "start_s", "label"])
    for row in timed.itertuples(index=False):
        found.setdefault(str(row.item_id), []).append(
            _Appearance(str(row.label), float(row.start_s), float(row.end_s), float(row.score))
        )
    return found


def _top_labels(rows: pd.DataFrame | None) -> dict[str, list[str]]:
    """item_id -> the best-scored whole-item label of a task that names one per item
    (genre, mood); an item without rows (not music, say) has none."""
    if rows is None or rows.empty:
        return {}
    whole = rows[rows["start_s"].isna()].sort_values(["item_id", "score"], ascending=False)
    best = whole.drop_duplicates("item_id")
    return {
        str(item): [str(label)] for item, label in zip(best["item_id"], best["label"], strict=True)
    }


@dataclass(frozen=True)
class _Text:
    """A phrase said or a caption shown; ``timed`` False for text in a picture."""

    task: str
    text: str
    start_s: float
    end_s: float
    score: float
    timed: bool


def _texts(rows: pd.DataFrame | None) -> dict[str, list[_Text]]:
    """item_id -> its phrases or captions by time (untimed ones, a picture's, first);
    the speech task's whole-item rows are its shares, not text."""
    if rows is None or rows.empty:
        return {}
    shares = (rows["task"] == SPEECH_TASK) & rows["start_s"].isna()
    text = rows[~shares]
    text = text.assign(timed=text["start_s"].notna()).sort_values(
        ["item_id", "timed", "start_s"], kind="stable"
    )
    found: dict[str, list[_Text]] = {}
    for row in text.itertuples(index=False):
        found.setdefault(str(row.item_id), []).append(
            _Text(
                str(row.task),
                str(row.label),
                float(row.start_s) if row.timed else 0.0,
                float(row.end_s) if row.timed else 0.0,
                float(row.score),
                bool(row.timed),
            )
        )
    return found


def _speaking_items(rows: pd.DataFrame | None) -> set[str]:
    """Items whose speech share reaches SPEECH_SHARE_LABEL."""
    if rows is None or rows.empty:
        return set()
    share = rows[rows["start_s"].isna() & (rows["label"] == SPEECH_LABEL)]
    return {str(item) for item in share.loc[share["score"] >= SPEECH_SHARE_LABEL, "item_id"]}


def _joined(lines: list[str]) -> str | None:
    """Lines of text as one (None when there are none)."""
    return "\n".join(lines) or None


def _span_key(start_s: float, end_s: float) -> tuple[float, float]:
    return round(float(start_s), 3), round(float(end_s), 3)


def _span_labels(rows: pd.DataFrame | None) -> dict[tuple[str, tuple[float, float]], list[str]]:
    """(item_id, span) -> the label a task gave that span (a shot's mood)."""
    if rows is None or rows.empty:
        return {}
    timed = rows[rows["start_s"].notna()]
    return {
        (str(item), _span_key(start, end)): [str(label)]
        for item, start, end, label in zip(
            timed["item_id"], timed["start_s"], timed["end_s"], timed["label"], strict=True
        )
    }


def _whole_item_labels(
    predictions: Mapping[str, pd.DataFrame], threshold: float, policy: LabelPolicy
) -> dict[str, set[str]]:
    """item_id -> labels whose whole-item score reaches its model's threshold (``threshold``
    for a model that chose none), over every task."""
    labels: dict[str, set[str]] = {}
    for frame in predictions.values():
        if frame.empty:
            continue
        whole = frame[frame["start_s"].isna()]
        bars = [
            policy.threshold(str(name), str(version), str(label), threshold)
            for name, version, label in zip(
                whole["model_name"], whole["model_version"], whole["label"], strict=True
            )
        ]
        whole = whole[whole["score"].to_numpy(dtype=np.float64) >= np.asarray(bars, dtype=float)]
        for item_id, label in zip(whole["item_id"], whole["label"], strict=True):
            labels.setdefault(str(item_id), set()).add(str(label))
    return labels


def _lineage(
    predictions: Mapping[str, pd.DataFrame], policy: LabelPolicy | None
) -> dict[str, list[dict[str, str]]]:
    """item_id -> the distinct (task, model, version, dataset revision) behind its rows,
    with what the model was trained on and whether its labels are published."""
    frames = [frame for frame in predictions.values() if not frame.empty]
    if not frames:
        return {}
    rows = (
        pd.concat([frame[["item_id", *_LINEAGE_COLUMNS]] for frame in frames])
        .drop_duplicates()
        .sort_values(["item_id", *_LINEAGE_COLUMNS])
    )
    lineage: dict[str, list[dict[str, str]]] = {}
    for row in rows.itertuples(index=False):
        entry = {column: str(getattr(row, column)) for column in _LINEAGE_COLUMNS}
        if policy is not None:
            model = (entry["model_name"], entry["model_version"])
            entry["training_data"] = policy.provenance(*model)
            entry["labels"] = "withheld" if model in policy.withheld else "published"
        lineage.setdefault(str(row.item_id), []).append(entry)
    return lineage


@dataclass(frozen=True)
class _SegmentVectors:
    """One item's 1-s embeddings, by start time."""

    starts: np.ndarray
    matrix: np.ndarray


def _embedding_lookup(
    frame: pd.DataFrame,
) -> tuple[dict[str, np.ndarray], dict[str, _SegmentVectors]]:
    """Item-level vectors and per-item 1-s vectors of the scene task."""
    if frame.empty:
        return {}, {}
    whole = frame[frame["start_s"].isna()]
    item_level = {
        str(item_id): np.asarray(vector, dtype=np.float32)
        for item_id, vector in zip(whole["item_id"], whole["vector"], strict=True)
    }
    timed = frame[frame["start_s"].notna()].sort_values(["item_id", "start_s"], kind="stable")
    segments = {
        str(item_id): _SegmentVectors(
            group["start_s"].to_numpy(dtype=np.float64),
            np.vstack([np.asarray(vector, dtype=np.float32) for vector in group["vector"]]),
        )
        for item_id, group in timed.groupby("item_id", sort=False)
    }
    return item_level, segments


def _mean_vector(
    segments: _SegmentVectors | None, start_s: float, end_s: float
) -> np.ndarray | None:
    """The mean of the 1-s vectors starting inside the span (None when there are none)."""
    if segments is None:
        return None
    inside = (segments.starts >= start_s - 1e-9) & (segments.starts < end_s - 1e-9)
    if not inside.any():
        return None
    return np.asarray(segments.matrix[inside].mean(axis=0))


def _document(
    item: Mapping[str, object],
    *,
    doc_id: str,
    level: str,
    labels: list[str],
    lineage: list[dict[str, str]],
    vector_row: int,
    span: tuple[float, float] | None = None,
    score: float | None = None,
    keyframe_s: float | None = None,
    people: list[str] | None = None,
    genres: list[str] | None = None,
    moods: list[str] | None = None,
    transcript: str | None = None,
    screen_text: str | None = None,
) -> dict[str, object]:
    return {
        **{column: item[column] for column in _METADATA_COLUMNS},
        "doc_id": doc_id,
        "level": level,
        "tags": _as_list(item["tags"]),
        "people": _as_list(item["people"]) if people is None else people,
        "labels": labels,
        "genres": genres or [],
        "moods": moods or [],
        "transcript": transcript,
        "screen_text": screen_text,
        "start_s": span[0] if span else None,
        "end_s": span[1] if span else None,
        "keyframe_s": keyframe_s,
        "score": score,
        "lineage": json.dumps(lineage),
        "vector_row": vector_row,
    }


def _as_list(values: object) -> list[str]:
    """A catalog list cell (None, list or array) as a plain list of strings."""
    if isinstance(values, list | tuple | np.ndarray):
        return [str(value) for value in values]
    if values is None or (isinstance(values, float) and np.isnan(values)):
        return []
    raise ValueError(f"expected a list of strings in the catalog, got {values!r}")
