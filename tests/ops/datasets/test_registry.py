"""The data registry against real git and real DVC, with a local folder as remote."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from ops.datasets.registry import DataRegistry, DatasetVersion, RegistryError
from ops.settings import Settings


@pytest.fixture
def registry(tmp_path: Path) -> DataRegistry:
    return DataRegistry(tmp_path / "registry", str(tmp_path / "remote"))


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def git(registry: DataRegistry, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=registry.root, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_from_settings_uses_the_data_root(tmp_path: Path) -> None:
    registry = DataRegistry.from_settings(Settings(home=tmp_path))
    assert registry.root == tmp_path / "registry"
    assert registry.remote_url == str(tmp_path / "dvc-remote")


def test_ensure_is_idempotent_and_undoes_a_half_finished_commit(registry: DataRegistry) -> None:
    registry.ensure()
    head = git(registry, "rev-parse", "HEAD")
    # What a commit killed between `dvc add` and `git commit` leaves behind.
    write(registry.root / "data" / "orphan" / "part.bin", b"half")
    write(registry.root / "data" / "orphan.dvc", b"outs: []\n")
    write(registry.root / ".dvcignore", b"edited\n")

    registry.ensure()

    assert git(registry, "rev-parse", "HEAD") == head
    assert git(registry, "status", "--porcelain") == ""
    assert not (registry.root / "data" / "orphan").exists()
    assert (registry.root / ".dvc" / "config").is_file()
    assert registry.versions() == []


def test_commit_recovers_the_git_locks_a_killed_commit_left(
    registry: DataRegistry, tmp_path: Path
) -> None:
    registry.commit("catalog", {"a.bin": write(tmp_path / "a.bin", b"one")}, message="one")
    # What `kill -9` during the registry's `git commit` / `git tag` leaves behind.
    git_dir = registry.root / ".git"
    for stale in ("HEAD.lock", "index.lock", "refs/tags/catalog/v2.lock"):
        write(git_dir / stale, b"")

    created = registry.commit(
        "catalog", {"a.bin": write(tmp_path / "a.bin", b"two")}, message="two"
    )

    assert created is not None and created.tag == "catalog/v2"
    assert list(git_dir.rglob("*.lock")) == []
    assert git(registry, "status", "--porcelain") == ""


def test_commit_skips_unchanged_content_and_restores_old_versions_from_the_remote(
    registry: DataRegistry, tmp_path: Path
) -> None:
    v1_bytes = b"catalog snapshot one"
    source = write(tmp_path / "src" / "catalog.parquet", v1_bytes)
    extra = write(tmp_path / "src" / "notes.txt", b"first run")

    first = registry.commit(
        "catalog",
        {"catalog.parquet": source, "notes/run.txt": extra},
        message="first crawl",
        metadata={"rows": 1},
    )
    unchanged = registry.commit(
        "catalog",
        {"catalog.parquet": source, "notes/run.txt": extra},
        message="same again",
        metadata={"rows": 1},
    )
    write(source, b"catalog snapshot two")
    second = registry.commit(
        "catalog", {"catalog.parquet": source}, message="second crawl", metadata={"rows": 2}
    )

    assert isinstance(first, DatasetVersion)
    assert (first.tag, first.version) == ("catalog/v1", 1)
    assert unchanged is None
    assert second is not None
    assert (second.tag, second.version) == ("catalog/v2", 2)
    assert second.commit == git(registry, "rev-parse", "catalog/v2^{commit}").strip()
    listed = registry.versions("catalog")
    assert [(v.tag, v.message, v.metadata) for v in listed] == [
        ("catalog/v1", "first crawl", {"rows": 1}),
        ("catalog/v2", "second crawl", {"rows": 2}),
    ]
    assert listed == [first, second]
    assert registry.latest("catalog") == second
    assert any(p.is_file() for p in (tmp_path / "remote").rglob("*"))

    shutil.rmtree(registry.root / ".dvc" / "cache")
    restored = registry.restore("catalog/v1", tmp_path / "restored")

    assert restored == tmp_path / "restored" / "data" / "catalog"
    assert (restored / "catalog.parquet").read_bytes() == v1_bytes
    assert (restored / "notes" / "run.txt").read_bytes() == b"first run"
    assert registry.read_file("catalog/v2", "catalog.parquet") == b"catalog snapshot two"
    with pytest.raises(RegistryError, match=r"notes/run\.txt"):
        registry.read_file("catalog/v2", "notes/run.txt")


def test_unknown_tag_is_a_registry_error(registry: DataRegistry, tmp_path: Path) -> None:
    registry.ensure()
    with pytest.raises(RegistryError, match="unknown tag 'catalog/v9'"):
        registry.restore("catalog/v9", tmp_path / "out")
    with pytest.raises(RegistryError, match="unknown tag 'no-version'"):
        registry.restore("no-version", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_nested_dataset_has_its_own_tags(registry: DataRegistry, tmp_path: Path) -> None:
    catalog = write(tmp_path / "catalog.parquet", b"items")
    labels = write(tmp_path / "labels.csv", b"item,label\n1,kiss\n")

    registry.commit("catalog", {"catalog.parquet": catalog}, message="catalog")
    scene = registry.commit("labels/scene", {"labels.csv": labels}, message="labels")

    assert scene is not None
    assert scene.tag == "labels/scene/v1"
    assert [v.tag for v in registry.versions("catalog")] == ["catalog/v1"]
    assert [v.tag for v in registry.versions("labels/scene")] == ["labels/scene/v1"]
    assert [v.tag for v in registry.versions()] == ["catalog/v1", "labels/scene/v1"]
    with pytest.raises(ValueError, match="overlap"):
        registry.commit("labels", {"labels.csv": labels}, message="clashes with labels/scene")


@pytest.mark.parametrize(
    "dataset",
    ["", "Catalog", "../escape", "labels/../x", "labels//scene", "labels/", "/abs", "a.b"],
)
def test_bad_dataset_names_are_refused(
    registry: DataRegistry, tmp_path: Path, dataset: str
) -> None:
    source = write(tmp_path / "f.txt", b"x")
    with pytest.raises(ValueError, match="bad dataset name"):
        registry.commit(dataset, {"f.txt": source}, message="bad")
    assert not registry.root.exists()


@pytest.mark.parametrize("name", ["../up.txt", "/abs.txt", "a/./b.txt", ""])
def test_bad_file_names_are_refused(registry: DataRegistry, tmp_path: Path, name: str) -> None:
    source = write(tmp_path / "f.txt", b"x")
    with pytest.raises(ValueError, match="bad file name"):
        registry.commit("catalog", {name: source}, message="bad")


def test_concurrent_commits_are_serialised(registry: DataRegistry, tmp_path: Path) -> None:
    sources = [write(tmp_path / f"{n}.txt", f"content {n}".encode()) for n in range(2)]
    errors: list[BaseException] = []

    def commit(source: Path) -> None:
        try:
            # Each thread opens its own lock file handle, as a separate process would.
            DataRegistry(registry.root, registry.remote_url).commit(
                "catalog", {"data.txt": source}, message=source.name
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=commit, args=(source,)) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [v.tag for v in registry.versions("catalog")] == ["catalog/v1", "catalog/v2"]
    assert git(registry, "status", "--porcelain") == ""
