"""Versioned folders: seal, publish by pointer, rollback, prune, sweep of killed builds."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from ops.versioned import (
    BUILDER_FILE,
    POINTER,
    BrokenPointer,
    Version,
    VersionedStore,
    VersionError,
)


def sealed(store: VersionedStore, **manifest: object) -> Version:
    version = store.create()
    (version.path / "data.txt").write_text(version.name)
    return store.seal(version, dict(manifest))


@pytest.fixture
def store(tmp_path: Path) -> VersionedStore:
    return VersionedStore(tmp_path / "store")


def test_an_empty_store_has_no_versions_and_nothing_live(store: VersionedStore) -> None:
    assert store.versions() == []
    assert store.current() is None


def test_versions_are_numbered_and_sealed_with_their_manifest(store: VersionedStore) -> None:
    first = store.create()
    assert (first.name, first.number, first.sealed) == ("v000001", 1, False)
    assert store.versions() == []  # unsealed versions are not listed
    store.seal(first, {"documents": 3})
    assert first.sealed
    assert first.manifest() == {"version": "v000001", "documents": 3, "files": {}}
    assert store.create().name == "v000002"


def test_an_unsealed_version_has_no_manifest_and_cannot_be_got(store: VersionedStore) -> None:
    version = store.create()
    with pytest.raises(VersionError, match="not sealed"):
        version.manifest()
    with pytest.raises(VersionError, match="unsealed"):
        store.get(version.name)


def test_publish_switches_the_pointer(store: VersionedStore) -> None:
    first, second = sealed(store), sealed(store)
    assert store.publish(first.name) == first
    assert store.current() == first
    store.publish(second.name)
    assert store.current() == second
    assert (store.root / POINTER).read_text().strip() == second.name
    assert sorted(path.name for path in store.root.iterdir()) == [POINTER, "v000001", "v000002"]
    assert first.was_published and second.was_published


def test_only_sealed_versions_can_be_published(store: VersionedStore) -> None:
    unsealed = store.create()
    with pytest.raises(VersionError, match="unsealed"):
        store.publish(unsealed.name)
    with pytest.raises(VersionError, match="does not exist"):
        store.publish("v000042")
    assert store.current() is None


@pytest.mark.parametrize("name", ["v1", "v0000001", "current", "../v000001", "V000001", ""])
def test_invalid_version_names_are_refused(store: VersionedStore, name: str) -> None:
    with pytest.raises(VersionError, match="not a version name"):
        store.get(name)


def test_rollback_goes_to_the_previously_published_version(store: VersionedStore) -> None:
    first, second, third = sealed(store), sealed(store), sealed(store)
    for version in (first, second, third):
        store.publish(version.name)
    assert store.rollback() == second
    assert store.rollback() == first
    with pytest.raises(VersionError, match="oldest"):
        store.rollback()
    assert store.rollback(to=third.name) == third
    assert store.current() == third


def test_rollback_skips_versions_that_never_went_live(store: VersionedStore) -> None:
    first, never_live, third = sealed(store), sealed(store), sealed(store)
    store.publish(first.name)
    store.publish(third.name)
    assert not never_live.was_published
    assert store.rollback() == first


def test_discard_removes_a_version_but_never_the_live_one(store: VersionedStore) -> None:
    live, refused = sealed(store), sealed(store)
    store.publish(live.name)
    store.discard(refused.name)
    assert store.versions() == [live]
    with pytest.raises(VersionError, match="is live"):
        store.discard(live.name)
    assert store.current() == live


def test_rollback_with_nothing_published_is_refused(store: VersionedStore) -> None:
    sealed(store)
    with pytest.raises(VersionError, match="nothing is published"):
        store.rollback()


def test_prune_keeps_the_newest_and_never_the_live_one(store: VersionedStore) -> None:
    versions = [sealed(store) for _ in range(5)]
    store.publish(versions[0].name)
    removed = store.prune(keep=2)
    assert removed == versions[1:3]
    assert store.versions() == [versions[0], *versions[3:]]
    assert all(not version.path.exists() for version in removed)
    assert store.current() == versions[0]
    assert store.prune(keep=2) == []  # the live one is kept beyond the newest two


def test_create_sweeps_unsealed_leftovers_of_killed_builds(store: VersionedStore) -> None:
    live = sealed(store)
    store.publish(live.name)
    killed = store.create()
    (killed.path / "half-written").write_text("x")
    (killed.path / BUILDER_FILE).write_text(str(dead_pid()))
    fresh = store.create()
    assert not killed.path.exists()
    assert fresh.name == "v000003"  # numbers are never reused
    assert store.current() == live


def test_a_pointer_to_a_missing_version_is_an_error(store: VersionedStore) -> None:
    version = sealed(store)
    store.publish(version.name)
    (version.path / "manifest.json").unlink()
    with pytest.raises(VersionError, match="v000001"):
        store.current()


def dead_pid() -> int:
    """The id of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_create_never_sweeps_a_version_that_a_live_process_is_building(
    store: VersionedStore,
) -> None:
    # Two runs at once: the second run's create must leave the first run's folder alone.
    first_run = store.create()
    (first_run.path / "data.txt").write_text("first")
    second_run = store.create()
    assert first_run.path.is_dir() and second_run.name == "v000002"
    store.seal(first_run, {}, required=["data.txt"])
    assert first_run.sealed


def test_seal_records_every_file_with_its_size_and_checksum(store: VersionedStore) -> None:
    version = sealed(store)
    assert version.manifest()["files"] == {
        "data.txt": {"bytes": 7, "sha256": hashlib.sha256(b"v000001").hexdigest()}
    }
    assert version.problems() == []


def test_seal_refuses_a_version_whose_required_files_are_missing(store: VersionedStore) -> None:
    version = store.create()
    (version.path / "empty.txt").write_text("")
    with pytest.raises(VersionError, match=r"data.txt, empty.txt missing or empty"):
        store.seal(version, {}, required=["data.txt", "empty.txt"])
    assert not version.sealed


def test_seal_refuses_a_version_folder_removed_meanwhile(store: VersionedStore) -> None:
    version = store.create()
    version.path.rename(version.path.with_name("elsewhere"))
    with pytest.raises(VersionError, match="not a version being built"):
        store.seal(version, {})
    assert not version.path.exists()


def test_a_version_whose_files_changed_cannot_be_published_or_rolled_back_to(
    store: VersionedStore,
) -> None:
    old = sealed(store)
    store.publish(old.name)
    store.publish(sealed(store).name)
    (old.path / "data.txt").write_text("v0")  # truncated
    assert old.problems(checksums=False) == [
        f"{old.path / 'data.txt'} is 2 bytes, its manifest says 7 "
        "(truncated or changed since it was sealed)"
    ]
    with pytest.raises(VersionError, match="v000001 fails verification, so it cannot go live"):
        store.rollback()
    with pytest.raises(VersionError, match="fails verification"):
        store.publish(old.name)
    (old.path / "data.txt").write_text("v00000X")  # same size, other bytes
    assert old.problems(checksums=False) == []
    assert old.problems() == [
        f"{old.path / 'data.txt'} does not match its checksum (changed since it was sealed)"
    ]
    assert store.current() is not None and store.current().name == "v000002"


@pytest.mark.parametrize("pointer", [b"garbage\n", b"\xff\xfe\x00", b"v000009\n"])
def test_a_broken_pointer_names_the_file_the_kept_versions_and_the_repair(
    tmp_path: Path, pointer: bytes
) -> None:
    store = VersionedStore(tmp_path / "store", repair="`publish vN`")
    store.publish(sealed(store).name)
    (store.root / POINTER).write_bytes(pointer)
    with pytest.raises(BrokenPointer) as raised:
        store.current()
    message = str(raised.value)
    assert message.startswith(f"the pointer {store.root / POINTER} is broken (")
    assert message.endswith("kept versions: v000001. Repair: `publish vN`")
    store.publish("v000001")  # publishing repairs it
    assert store.current() == store.get("v000001")
