import hashlib
import io
import os
from pathlib import Path

import pytest

from ops.ingest.rawstore import RawStore, SizeCapExceeded


@pytest.fixture
def store(tmp_path: Path) -> RawStore:
    return RawStore(tmp_path / "raw", tmp_path / "tmp")


def test_put_stream_is_content_addressed(store: RawStore) -> None:
    data = b"frames" * 1000
    sha, size = store.put_stream(io.BytesIO(data), max_bytes=10**6)
    assert sha == hashlib.sha256(data).hexdigest() and size == len(data)
    assert store.path_for(sha).read_bytes() == data
    assert list(store.scratch.iterdir()) == []


def test_size_cap_leaves_nothing_behind(store: RawStore) -> None:
    with pytest.raises(SizeCapExceeded, match="size cap"):
        store.put_stream(io.BytesIO(b"x" * 5000), max_bytes=4000, chunk_size=1000)
    assert not store.root.exists() or not any(store.root.rglob("*"))
    assert list(store.scratch.iterdir()) == []


def test_failure_midway_discards_the_partial(store: RawStore) -> None:
    with pytest.raises(RuntimeError), store.pending(10**6) as pending:
        pending.write(b"half")
        raise RuntimeError("killed")
    assert list(store.scratch.iterdir()) == []


def test_sweep_removes_partials_of_dead_processes_only(store: RawStore) -> None:
    store.scratch.mkdir(parents=True)
    dead = store.scratch / "999999999-abc.part"
    mine = store.scratch / f"{os.getpid()}-def.part"
    dead.write_bytes(b"x")
    mine.write_bytes(b"y")
    assert store.sweep_partials() == 1
    assert not dead.exists() and mine.exists()


def test_path_for_rejects_non_digests(store: RawStore) -> None:
    with pytest.raises(ValueError):
        store.path_for("../../etc/passwd")
