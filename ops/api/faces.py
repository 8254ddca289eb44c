"""Face curation over HTTP: the clusters and people, face thumbnails, the curator's
decisions, and the curation page (``/curate``) that uses them.

Reads are open; every decision needs the bearer token (as index admin does) and names
its curator, and is logged (ops.faces.people).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.params import Depends
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from ops.faces.people import (
    Action,
    Curation,
    CurationError,
    CurationStore,
    Decision,
    eject_face,
    ignore_cluster,
    merge_clusters,
    name_cluster,
    split_cluster,
)
from ops.faces.store import FaceStore
from ops.settings import Settings

FACE_ID = r"^[0-9a-f]{16}$"
CLUSTER = Annotated[str, Path(min_length=1, max_length=200, description="c<N> or a person")]


class Curator(BaseModel):
    model_config = ConfigDict(extra="forbid")

    curator: str = Field(min_length=1, max_length=100, description="who decides")


class NameRequest(Curator):
    name: str = Field(min_length=1, max_length=200)


class MergeRequest(Curator):
    first: str = Field(min_length=1, max_length=200)
    second: str = Field(min_length=1, max_length=200)


class SplitRequest(Curator):
    faces: list[str] = Field(min_length=1, description="the faces that leave the cluster")


class Group(BaseModel):
    """A named person or an anonymous cluster, as the page shows it."""

    id: str
    named: bool
    faces: list[str]
    suggested: list[str] = Field(default_factory=list)
    declared: dict[str, int] = Field(
        default_factory=dict,
        description="names sources declared for its faces (their face sets), with counts",
    )


class Groups(BaseModel):
    groups: list[Group] = Field(description="named people first, then clusters, largest first")
    ignored: int


def groups_of(state: Curation, labels: Mapping[str, str]) -> Groups:
    """The page's groups; ``labels`` are the names sources declared, by face."""

    def declared(faces: list[str]) -> dict[str, int]:
        return dict(Counter(labels[face] for face in faces if face in labels).most_common())

    people = [
        Group(id=name, named=True, faces=p.faces, suggested=p.suggested, declared=declared(p.faces))
        for name, p in sorted(state.people.items(), key=lambda pair: -len(pair[1].faces))
    ]
    clusters = [
        Group(id=key, named=False, faces=faces, declared=declared(faces))
        for key, faces in sorted(state.clusters.items(), key=lambda pair: -len(pair[1]))
    ]
    return Groups(groups=people + clusters, ignored=len(state.ignored))


def faces_router(settings: Settings, require_token: Depends) -> APIRouter:
    router = APIRouter(tags=["faces"])
    store = CurationStore(settings)
    faces = FaceStore(settings)

    def labels() -> dict[str, str]:
        table = faces.faces()[["face_id", "label"]].dropna()
        return dict(zip(table["face_id"], table["label"], strict=True))

    def decide(
        who: str,
        action: Action,
        target: str,
        change: Callable[[Curation], tuple[Curation, list[str]]],
        name: str | None = None,
    ) -> Groups:
        try:
            return groups_of(store.apply(who, action, target, change, name=name), labels())
        except CurationError as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(error)) from error

    @router.get("/curate", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        """The curation page."""
        return HTMLResponse(files("ops.api").joinpath("curate.html").read_text("utf-8"))

    @router.get("/faces/clusters")
    def clusters() -> Groups:
        """Named people, then anonymous clusters, each largest first."""
        return groups_of(store.read(), labels())

    @router.get("/faces/decisions")
    def decisions() -> list[Decision]:
        """Every curation decision and clustering run, oldest first."""
        return store.decisions()

    @router.get("/faces/{face_id}/thumbnail", responses={404: {}})
    def thumbnail(face_id: Annotated[str, Path(pattern=FACE_ID)]) -> FileResponse:
        found = faces.thumbnail(face_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no face {face_id}")
        return FileResponse(found, media_type="image/jpeg")

    write: dict[str, Any] = {"dependencies": [require_token], "responses": {400: {}, 401: {}}}

    @router.post("/faces/clusters/merge", **write)
    def merge(request: MergeRequest) -> Groups:
        """Two clusters are one person (the named one's, when either is named)."""
        return decide(
            request.curator,
            "merge",
            request.first,
            lambda s: merge_clusters(s, request.first, request.second),
            name=request.second,
        )

    @router.post("/faces/clusters/{cluster}/name", **write)
    def name(cluster: CLUSTER, request: NameRequest) -> Groups:
        """Name a cluster (its faces become that person's) or rename a person."""
        return decide(
            request.curator,
            "name",
            cluster,
            lambda s: name_cluster(s, cluster, request.name),
            name=request.name,
        )

    @router.post("/faces/clusters/{cluster}/split", **write)
    def split(cluster: CLUSTER, request: SplitRequest) -> Groups:
        """The given faces leave the cluster for a new one."""
        return decide(
            request.curator, "split", cluster, lambda s: split_cluster(s, cluster, request.faces)
        )

    @router.post("/faces/clusters/{cluster}/ignore", **write)
    def ignore(cluster: CLUSTER, request: Curator) -> Groups:
        """The cluster's faces are background strangers."""
        return decide(request.curator, "ignore", cluster, lambda s: ignore_cluster(s, cluster))

    @router.post("/faces/{face_id}/eject", **write)
    def eject(face_id: Annotated[str, Path(pattern=FACE_ID)], request: Curator) -> Groups:
        """The face leaves its cluster or person (alone in a new cluster)."""
        return decide(request.curator, "eject", face_id, lambda s: eject_face(s, face_id))

    return router
