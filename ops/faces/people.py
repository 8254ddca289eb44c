"""People from faces: who a curator named, what clustering proposes, and every decision.

Clustering only proposes. It groups the faces no curator has decided on into anonymous
clusters (``c1``, ``c2``, ...) and suggests new faces for the named people they are
close to. A curator names a cluster (its faces become that person's, confirmed), merges
two, splits one, ejects a face, or marks a cluster ``ignore`` (background strangers).
Confirmed and ignored faces never go back to clustering, and a person's rejected faces
are never suggested to them again, so no clustering, incremental or full, renames or
drops a person a curator named. Merges and splits of anonymous clusters are kept as
links between faces (together / apart) and applied again after a full re-cluster.

Files under ``home/faces``: ``curation.json`` (the state, written atomically under a
lock) and ``decisions.jsonl`` (one line per decision: who, when, what; never rewritten).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ops.atomic import atomic_open
from ops.faces.cluster import Algorithm, ClusterSettings, cluster_faces
from ops.faces.params import ClusterParams, ClusterRun
from ops.faces.store import FaceStore, descriptor_lookup, faces_dir
from ops.locks import exclusive
from ops.settings import Settings

Vectors = Callable[[list[str]], np.ndarray]
"""Descriptors by face id (ops.faces.store.descriptor_lookup)."""
Action = Literal["name", "merge", "split", "eject", "ignore", "cluster"]


class CurationError(ValueError):
    """A curation request that does not fit the current state, with the reason."""


class Person(BaseModel):
    """A named person: faces a curator confirmed, faces clustering suggests, faces a
    curator said are not them."""

    model_config = ConfigDict(frozen=True)

    faces: list[str] = Field(default_factory=list)
    suggested: list[str] = Field(default_factory=list)
    rejected: list[str] = Field(default_factory=list)


class Curation(BaseModel):
    """The people, the anonymous clusters, the ignored faces and the face links."""

    model_config = ConfigDict(frozen=True)

    people: dict[str, Person] = Field(default_factory=dict)
    clusters: dict[str, list[str]] = Field(default_factory=dict)
    ignored: list[str] = Field(default_factory=list)
    together: list[list[str]] = Field(default_factory=list)
    apart: list[list[list[str]]] = Field(default_factory=list)
    next_cluster: int = 1

    def decided(self) -> set[str]:
        """Faces that clustering never moves: confirmed for a person, or ignored."""
        confirmed = {face for person in self.people.values() for face in person.faces}
        return confirmed | set(self.ignored)

    def proposed(self) -> set[str]:
        """Faces clustering placed: in an anonymous cluster or suggested for a person."""
        suggested = {face for person in self.people.values() for face in person.suggested}
        return suggested | {face for faces in self.clusters.values() for face in faces}


class Decision(BaseModel):
    """One line of the decision log."""

    model_config = ConfigDict(frozen=True)

    at: str
    who: str
    action: Action
    target: str
    faces: list[str]
    name: str | None = None
    detail: str = ""


class CurationStore:
    """The curation state and its decision log, changed one decision at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        root = faces_dir(settings)
        self.state_path = root / "curation.json"
        self.log_path = root / "decisions.jsonl"
        self.lock_path = root / ".curation.lock"

    def read(self) -> Curation:
        if not self.state_path.is_file():
            return Curation()
        return Curation.model_validate_json(self.state_path.read_text(encoding="utf-8"))

    def decisions(self) -> list[Decision]:
        if not self.log_path.is_file():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [Decision.model_validate_json(line) for line in lines if line.strip()]

    def apply(
        self,
        who: str,
        action: Action,
        target: str,
        change: Callable[[Curation], tuple[Curation, list[str]]],
        name: str | None = None,
        detail: str = "",
    ) -> Curation:
        """Change the state under the lock and log the decision (after the state is
        written, so a logged decision is always in the state)."""
        if not who.strip():
            raise CurationError("a decision needs the curator's name")
        with exclusive(self.lock_path, "face curation", wait=True):
            state, faces = change(self.read())
            with atomic_open(self.state_path) as handle:
                handle.write(state.model_dump_json(indent=1))
            decision = Decision(
                at=datetime.now(UTC).isoformat(timespec="seconds"),
                who=who.strip(),
                action=action,
                target=target,
                faces=faces,
                name=name,
                detail=detail,
            )
            _append_line(self.log_path, decision.model_dump_json())
        return state


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


# Curator decisions: each a function of the state, returning the new state and the faces
# it concerned.


def name_cluster(state: Curation, target: str, name: str) -> tuple[Curation, list[str]]:
    """An anonymous cluster's faces become ``name``'s (a new person, or one more set of
    faces for an existing one); a person's name is changed."""
    name = name.strip()
    if not name:
        raise CurationError("a person's name cannot be empty")
    if target in state.people:
        if name in state.people and name != target:
            raise CurationError(f"{name!r} is already a person: merge the two instead")
        people = {(name if key == target else key): p for key, p in state.people.items()}
        return state.model_copy(update={"people": people}), state.people[target].faces
    faces = _cluster(state, target)
    person = state.people.get(name, Person())
    joined = person.model_copy(
        update={
            "faces": _merged(person.faces, faces),
            "suggested": [f for f in person.suggested if f not in faces],
            "rejected": [f for f in person.rejected if f not in faces],
        }
    )
    clusters = {key: value for key, value in state.clusters.items() if key != target}
    return state.model_copy(
        update={"people": {**state.people, name: joined}, "clusters": clusters}
    ), faces


def merge_clusters(state: Curation, first: str, second: str) -> tuple[Curation, list[str]]:
    """Two clusters are one: ``second``'s faces join ``first`` (a person's when either is
    named; two named people become ``first``)."""
    if first == second:
        raise CurationError("cannot merge a cluster with itself")
    if first not in state.people and second in state.people:
        first, second = second, first
    if first in state.people:
        moved = (
            state.people[second].faces + state.people[second].suggested
            if second in state.people
            else _cluster(state, second)
        )
        person = state.people[first]
        merged = person.model_copy(
            update={
                "faces": _merged(person.faces, moved),
                "rejected": [f for f in person.rejected if f not in moved],
            }
        )
        people = {k: v for k, v in state.people.items() if k != second} | {first: merged}
        clusters = {k: v for k, v in state.clusters.items() if k != second}
        return state.model_copy(update={"people": people, "clusters": clusters}), moved
    a, b = _cluster(state, first), _cluster(state, second)
    clusters = {k: v for k, v in state.clusters.items() if k != second} | {first: a + b}
    together = [*state.together, a + b]
    return state.model_copy(update={"clusters": clusters, "together": together}), a + b


def split_cluster(state: Curation, target: str, faces: list[str]) -> tuple[Curation, list[str]]:
    """``faces`` leave ``target`` for a new anonymous cluster (and are never suggested to
    the person again when ``target`` is one)."""
    members = _members(state, target)
    leaving = [face for face in faces if face in members]
    if not leaving:
        raise CurationError(f"none of those faces is in {target}")
    if len(leaving) == len(members):
        raise CurationError(f"a split must leave some faces in {target}")
    staying = [face for face in members if face not in leaving]
    state = _without(state, target, leaving)
    new_id = f"c{state.next_cluster}"
    clusters = {**state.clusters, new_id: leaving}
    update = {
        "clusters": clusters,
        "next_cluster": state.next_cluster + 1,
        "apart": [*state.apart, [leaving, staying]],
    }
    return state.model_copy(update=update), leaving


def eject_face(state: Curation, face: str) -> tuple[Curation, list[str]]:
    """A face leaves its cluster or person, alone in a new cluster."""
    holder = next(
        (key for key in [*state.people, *state.clusters] if face in _members(state, key)), None
    )
    if holder is None:
        raise CurationError(f"face {face} is in no cluster or person")
    others = [other for other in _members(state, holder) if other != face]
    state = _without(state, holder, [face])
    new_id = f"c{state.next_cluster}"
    update = {
        "clusters": {**state.clusters, new_id: [face]},
        "next_cluster": state.next_cluster + 1,
        "apart": [*state.apart, [[face], others]],
    }
    return state.model_copy(update=update), [face]


def ignore_cluster(state: Curation, target: str) -> tuple[Curation, list[str]]:
    """An anonymous cluster's faces are background: never clustered or shown again."""
    if target in state.people:
        raise CurationError(f"{target!r} is a named person: eject faces or rename instead")
    faces = _cluster(state, target)
    clusters = {k: v for k, v in state.clusters.items() if k != target}
    update = {"clusters": clusters, "ignored": _merged(state.ignored, faces)}
    return state.model_copy(update=update), faces


# Clustering.


def cluster_people(
    settings: Settings,
    params: ClusterParams | None = None,
    who: str = "faces_cluster",
    cluster_settings: ClusterSettings | None = None,
) -> ClusterRun:
    """Place the faces no curator decided on: suggest them to named people they are close
    to, join them to anonymous clusters, or cluster them anew. Incremental by default
    (only faces never placed); ``full`` re-clusters every undecided face from scratch."""
    chosen = cluster_settings or ClusterSettings()
    params = params or ClusterParams()
    algorithm, full = params.algorithm, params.full
    threshold = chosen.threshold_for(algorithm)
    store = FaceStore(settings)
    curation = CurationStore(settings)
    counts: dict[str, int] = {}

    def change(state: Curation) -> tuple[Curation, list[str]]:
        faces = store.faces()
        all_ids = list(faces["face_id"])
        vectors = descriptor_lookup(faces)
        if full:
            people = {k: p.model_copy(update={"suggested": []}) for k, p in state.people.items()}
            state = state.model_copy(update={"people": people, "clusters": {}})
        placed = state.decided() | state.proposed()
        pending = [face for face in all_ids if face not in placed]
        counts["considered"] = len(pending)
        state, pending = _suggest(state, vectors, pending, threshold)
        counts["suggested"] = counts["considered"] - len(pending)
        if not full:
            state, pending, counts["joined"] = _join(state, vectors, pending, threshold)
        state, counts["new_clusters"] = _cluster_new(state, vectors, pending, algorithm, chosen)
        if full:
            state = _apply_links(state)
        counts["faces"] = len(all_ids)
        return state, []

    state = curation.apply(
        who, "cluster", "all" if full else "new", change, detail=f"{algorithm}, full={full}"
    )
    return ClusterRun(
        algorithm=algorithm,
        full=full,
        faces=counts["faces"],
        considered=counts["considered"],
        suggested=counts["suggested"],
        joined=counts.get("joined", 0),
        new_clusters=counts["new_clusters"],
        clusters=len(state.clusters),
        people=len(state.people),
    )


def _distances(vectors: Vectors, asked: list[str], known: list[str]) -> np.ndarray:
    """Descriptor distance of every asked face (rows) to every known face (columns)."""
    return np.linalg.norm(vectors(asked)[:, np.newaxis, :] - vectors(known)[np.newaxis], axis=2)


def _suggest(
    state: Curation, vectors: Vectors, pending: list[str], threshold: float
) -> tuple[Curation, list[str]]:
    """Suggest each pending face to the named person whose nearest confirmed face is
    within the threshold (never to a person who rejected it)."""
    named = [(name, face) for name, person in state.people.items() for face in person.faces]
    if not named or not pending:
        return state, pending
    distances = _distances(vectors, pending, [face for _, face in named])
    people = dict(state.people)
    left = []
    for row, face in enumerate(pending):
        order = np.argsort(distances[row])
        match = next(
            (
                named[column][0]
                for column in order
                if distances[row, column] < threshold
                and face not in people[named[column][0]].rejected
            ),
            None,
        )
        if match is None:
            left.append(face)
            continue
        person = people[match]
        people[match] = person.model_copy(update={"suggested": [*person.suggested, face]})
    return state.model_copy(update={"people": people}), left


def _join(
    state: Curation, vectors: Vectors, pending: list[str], threshold: float
) -> tuple[Curation, list[str], int]:
    """Add each pending face to the anonymous cluster of its nearest clustered face when
    within the threshold."""
    members = [(key, face) for key, faces in state.clusters.items() for face in faces]
    if not members or not pending:
        return state, pending, 0
    distances = _distances(vectors, pending, [face for _, face in members])
    clusters = {key: list(faces) for key, faces in state.clusters.items()}
    left = []
    for row, face in enumerate(pending):
        nearest = int(np.argmin(distances[row]))
        if distances[row, nearest] < threshold:
            clusters[members[nearest][0]].append(face)
        else:
            left.append(face)
    return state.model_copy(update={"clusters": clusters}), left, len(pending) - len(left)


def _cluster_new(
    state: Curation,
    vectors: Vectors,
    pending: list[str],
    algorithm: Algorithm,
    settings: ClusterSettings,
) -> tuple[Curation, int]:
    if not pending:
        return state, 0
    labels = cluster_faces(vectors(pending), algorithm, settings)
    clusters = dict(state.clusters)
    next_cluster = state.next_cluster
    for label in range(int(labels.max()) + 1):
        clusters[f"c{next_cluster}"] = [pending[i] for i in np.flatnonzero(labels == label)]
        next_cluster += 1
    made = next_cluster - state.next_cluster
    return state.model_copy(update={"clusters": clusters, "next_cluster": next_cluster}), made


def _apply_links(state: Curation) -> Curation:
    """After a full re-cluster: faces a curator put together share one cluster again, and
    faces a curator set apart leave the cluster of the others."""
    clusters = {key: list(faces) for key, faces in state.clusters.items()}
    next_cluster = state.next_cluster

    def holder(face: str) -> str | None:
        return next((key for key, faces in clusters.items() if face in faces), None)

    for group in state.together:
        keys = list(dict.fromkeys(k for k in map(holder, group) if k is not None))
        for key in keys[1:]:
            clusters[keys[0]].extend(clusters.pop(key))
    for leaving, staying in state.apart:
        for key in {k for k in map(holder, leaving) if k is not None}:
            if any(face in clusters[key] for face in staying):
                moved = [face for face in clusters[key] if face in leaving]
                clusters[key] = [face for face in clusters[key] if face not in leaving]
                clusters[f"c{next_cluster}"] = moved
                next_cluster += 1
    clusters = {key: faces for key, faces in clusters.items() if faces}
    return state.model_copy(update={"clusters": clusters, "next_cluster": next_cluster})


def _cluster(state: Curation, key: str) -> list[str]:
    if key not in state.clusters:
        raise CurationError(f"no cluster {key!r} (clusters: {', '.join(state.clusters) or 'none'})")
    return list(state.clusters[key])


def _members(state: Curation, key: str) -> list[str]:
    if key in state.people:
        return [*state.people[key].faces, *state.people[key].suggested]
    return _cluster(state, key)


def _without(state: Curation, key: str, faces: list[str]) -> Curation:
    """``faces`` taken out of cluster or person ``key`` (rejected by a person)."""
    if key in state.people:
        person = state.people[key]
        changed = person.model_copy(
            update={
                "faces": [f for f in person.faces if f not in faces],
                "suggested": [f for f in person.suggested if f not in faces],
                "rejected": _merged(person.rejected, faces),
            }
        )
        return state.model_copy(update={"people": {**state.people, key: changed}})
    clusters = {**state.clusters, key: [f for f in state.clusters[key] if f not in faces]}
    return state.model_copy(update={"clusters": {k: v for k, v in clusters.items() if v}})


def _merged(first: list[str], second: list[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))
