"""The DVC data registry: every change to a dataset becomes a tagged, pushed revision.

The registry is its own git + DVC repository (not the project repository), so dataset
history is independent of code history and any revision can be reproduced the way a user
would: ``git clone``, ``git checkout <dataset>/v<N>``, ``dvc pull``. The real ``git`` and
``dvc`` command lines are used so the repository stays readable by those tools alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from ops.locks import exclusive
from ops.settings import Settings

log = logging.getLogger(__name__)

DATASET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*(?:/[a-z0-9][a-z0-9_-]*)*")
VERSION_TAG = re.compile(r"(?P<dataset>.+)/v(?P<version>[1-9][0-9]*)")
REMOTE_NAME = "storage"
LOCK_FILE = ".registry.lock"
DATA_DIR = "data"
ANNOTATION_FORMAT = 1
STDERR_TAIL_CHARS = 2000
GIT_IDENTITY = {"user.name": "cinescope", "user.email": "cinescope@localhost"}
# Machines with a global signing setup must not make registry commits or tags fail.
GIT_LOCAL_CONFIG = {**GIT_IDENTITY, "commit.gpgsign": "false", "tag.gpgsign": "false"}


class RegistryError(RuntimeError):
    """A registry operation failed; the message says which command or tag and why."""


@dataclass(frozen=True)
class DatasetVersion:
    """One tagged revision of one dataset, as recorded in the tag's annotation."""

    dataset: str
    version: int
    tag: str
    commit: str
    created_at: datetime
    message: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class _TaggedRevision:
    """A version plus the content digest used to skip commits that change nothing."""

    version: DatasetVersion
    content_sha256: str


def validate_dataset_name(dataset: str) -> None:
    """Refuse names that could escape ``data/`` or clash with the ``/v<N>`` tag suffix."""
    if not DATASET_NAME.fullmatch(dataset):
        raise ValueError(
            f"bad dataset name {dataset!r}: use lowercase segments of [a-z0-9_-] "
            "separated by '/', each starting with a letter or digit (e.g. 'labels/scene')"
        )


def _validate_file_names(names: list[str]) -> None:
    """File names become paths inside the dataset folder, so they must stay inside it."""
    if not names:
        raise ValueError("a dataset revision needs at least one file")
    for name in names:
        path = PurePosixPath(name)
        if path.is_absolute() or str(path) != name or any(p in ("", ".", "..") for p in path.parts):
            raise ValueError(f"bad file name {name!r}: use a relative POSIX path without '..'")
    folders = {str(parent) for name in names for parent in PurePosixPath(name).parents}
    clashes = sorted(folders.intersection(names))
    if clashes:
        raise ValueError(f"file names {clashes} are also used as folders of other files")


def _copy_and_hash(source: Path, target: Path) -> str:
    """Copy in one pass and hash exactly the bytes copied, so the digest matches the commit."""
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while chunk := reader.read(1 << 20):
            digest.update(chunk)
            writer.write(chunk)
    return digest.hexdigest()


def _content_digest(file_digests: Mapping[str, str]) -> str:
    """One digest for a whole revision: names and contents, independent of copy order."""
    canonical = json.dumps(dict(sorted(file_digests.items())), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_local(url: str) -> bool:
    return "://" not in url


class DataRegistry:
    """A git + DVC repository of dataset snapshots with a DVC remote holding their content."""

    def __init__(self, root: Path, remote_url: str) -> None:
        self.root = Path(root).absolute()
        # DVC resolves a relative local remote against .dvc/, which would differ in a clone.
        self.remote_url = str(Path(remote_url).absolute()) if _is_local(remote_url) else remote_url
        self._env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0"}

    @classmethod
    def from_settings(cls, settings: Settings) -> DataRegistry:
        return cls(settings.registry_dir, settings.dvc_remote_url)

    # -- writing -------------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the repository and remote if missing and undo a half-finished commit."""
        with self._lock():
            self._ensure_locked()

    def commit(
        self,
        dataset: str,
        files: Mapping[str, Path],
        *,
        message: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> DatasetVersion | None:
        """Record ``files`` (name in the dataset -> source) as the next version of ``dataset``.

        The files are the whole dataset: names not given are absent from the new revision.
        Returns None and commits nothing when the content equals the latest version's.
        """
        validate_dataset_name(dataset)
        _validate_file_names(list(files))
        for name, source in files.items():
            if not Path(source).is_file():
                raise FileNotFoundError(f"source of {dataset}:{name} is not a file: {source}")
        try:
            metadata_copy: dict[str, Any] = json.loads(json.dumps(dict(metadata or {})))
        except (TypeError, ValueError) as error:
            raise ValueError(f"metadata of {dataset} must be JSON-serialisable: {error}") from None

        with self._lock():
            self._ensure_locked()
            revisions = self._tagged_revisions()
            self._refuse_nested(dataset, {r.version.dataset for r in revisions})
            previous = [r for r in revisions if r.version.dataset == dataset]
            latest = max(previous, key=lambda r: r.version.version, default=None)

            workspace = self.root / DATA_DIR / dataset
            shutil.rmtree(workspace, ignore_errors=True)
            file_digests = {
                name: _copy_and_hash(Path(source), workspace / name)
                for name, source in files.items()
            }
            content_sha256 = _content_digest(file_digests)
            if latest is not None and latest.content_sha256 == content_sha256:
                log.info("%s unchanged since %s; nothing committed", dataset, latest.version.tag)
                return None

            number = latest.version.version + 1 if latest else 1
            tag = f"{dataset}/v{number}"
            pointer = f"{DATA_DIR}/{dataset}.dvc"
            self._dvc("add", "--quiet", f"{DATA_DIR}/{dataset}")
            # Push before the git commit: a tag must never point at content the remote lacks.
            self._dvc("push", "--quiet", pointer)
            self._git("add", "--all", "--", DATA_DIR)
            # --allow-empty: a run killed after its commit but before its tag left the same
            # pointer committed already; the new tag still needs its own commit.
            self._git("commit", "--quiet", "--allow-empty", "-m", f"{tag}: {message}")
            commit = self._git("rev-parse", "HEAD").strip()
            created_at = datetime.now(UTC)
            annotation = {
                "format": ANNOTATION_FORMAT,
                "dataset": dataset,
                "version": number,
                "message": message,
                "metadata": metadata_copy,
                "files": file_digests,
                "content_sha256": content_sha256,
                "created_at": created_at.isoformat(),
            }
            self._git("tag", "--annotate", tag, "-m", json.dumps(annotation, sort_keys=True))
            log.info("committed %s (%d files) at %s", tag, len(files), commit[:12])
            return DatasetVersion(dataset, number, tag, commit, created_at, message, metadata_copy)

    # -- reading -------------------------------------------------------------------------

    def versions(self, dataset: str | None = None) -> list[DatasetVersion]:
        """Versions of one dataset (or of all), oldest first."""
        if dataset is not None:
            validate_dataset_name(dataset)
        if not (self.root / ".git").exists():
            return []
        found = [
            r.version
            for r in self._tagged_revisions()
            if dataset is None or r.version.dataset == dataset
        ]
        return sorted(found, key=lambda v: (v.created_at, v.dataset, v.version))

    def latest(self, dataset: str) -> DatasetVersion | None:
        found = self.versions(dataset)
        return found[-1] if found else None

    def restore(self, tag: str, dest: Path) -> Path:
        """Reproduce ``tag`` in ``dest`` from git and the remote only; returns its data folder.

        The clone starts with an empty DVC cache, so every byte comes from the remote: this
        proves the revision can be rebuilt anywhere, not just next to this registry.
        """
        dataset = self._dataset_of(tag)
        dest = Path(dest).absolute()
        if dest.exists() and any(dest.iterdir()):
            raise FileExistsError(f"cannot restore {tag} into {dest}: it is not empty")
        try:
            self._git("clone", "--quiet", "--no-checkout", str(self.root), str(dest))
            self._git("checkout", "--quiet", tag, cwd=dest)
            # Old tags carry the remote URL of their day; the registry's current one wins.
            self._dvc("remote", "modify", "--local", REMOTE_NAME, "url", self.remote_url, cwd=dest)
            self._dvc("pull", "--quiet", f"{DATA_DIR}/{dataset}.dvc", cwd=dest)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        return dest / DATA_DIR / dataset

    def read_file(self, tag: str, name: str) -> bytes:
        """One file of a revision, restored through the remote (meant for small files)."""
        _validate_file_names([name])
        with tempfile.TemporaryDirectory(prefix="cinescope-restore-") as scratch:
            folder = self.restore(tag, Path(scratch) / "registry")
            target = folder / name
            if not target.is_file():
                raise RegistryError(f"{name!r} is not a file of {tag}")
            return target.read_bytes()

    # -- internals -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise writers across processes (two Airflow tasks may commit at once)."""
        with exclusive(self.root / LOCK_FILE, f"data registry {self.root}", wait=True):
            yield

    def _ensure_locked(self) -> None:
        if _is_local(self.remote_url):
            Path(self.remote_url).mkdir(parents=True, exist_ok=True)
        if not (self.root / ".git").exists():
            self._git("init", "--quiet")
        self._recover_stale_git_locks()
        for key, value in GIT_LOCAL_CONFIG.items():
            self._git("config", key, value)
        self._exclude_lock_file()
        has_head = self._git_ok("rev-parse", "--quiet", "--verify", "HEAD")
        if has_head:
            # Undo whatever a killed commit left: pointer files, .gitignore edits, new folders.
            self._git("reset", "--quiet", "--hard", "HEAD")
            self._git("clean", "--quiet", "--force", "-d", "--", DATA_DIR)
        if not (self.root / ".dvc" / "config").exists():
            self._dvc("init", "--quiet", "--force")
            self._dvc("config", "core.analytics", "false")
        self._dvc("remote", "add", "--force", "--default", REMOTE_NAME, self.remote_url)
        self._git("add", "--all", "--", ".dvc", ".dvcignore")
        if not has_head:
            self._git("commit", "--quiet", "-m", "registry: initialise git + DVC")
        elif not self._git_ok("diff", "--cached", "--quiet"):
            self._git("commit", "--quiet", "-m", f"registry: remote is {self.remote_url}")

    def _recover_stale_git_locks(self) -> None:
        """Remove the ``*.lock`` files a killed git left (``HEAD.lock``, ``index.lock``, ...).

        Only called under the registry lock: every git command this registry runs holds it,
        so no live git process of ours can own them; git inside the registry by hand, during
        a cinescope run, is not supported.
        """
        for stale in sorted((self.root / ".git").rglob("*.lock")):
            if stale.is_file():
                log.warning("removing %s, left by a git process that was killed", stale)
                stale.unlink(missing_ok=True)

    def _exclude_lock_file(self) -> None:
        exclude = self.root / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        lines = exclude.read_text().splitlines() if exclude.exists() else []
        if f"/{LOCK_FILE}" not in lines:
            exclude.write_text("\n".join([*lines, f"/{LOCK_FILE}"]) + "\n")

    def _tagged_revisions(self) -> list[_TaggedRevision]:
        """All dataset tags in one git call, parsed from their JSON annotations."""
        fields = "%(refname:strip=2)%1f%(*objectname)%1f%(contents)%1e"
        listing = self._git("for-each-ref", f"--format={fields}", "refs/tags")
        revisions = []
        for record in listing.split("\x1e"):
            if not record.strip():
                continue
            tag, commit, contents = record.lstrip("\n").split("\x1f", 2)
            revision = self._parse_annotation(tag, commit, contents)
            if revision is not None:
                revisions.append(revision)
        return revisions

    @staticmethod
    def _parse_annotation(tag: str, commit: str, contents: str) -> _TaggedRevision | None:
        try:
            note = json.loads(contents)
            if note.get("format") != ANNOTATION_FORMAT or not commit:
                raise ValueError("not a registry annotation")
            version = DatasetVersion(
                dataset=note["dataset"],
                version=int(note["version"]),
                tag=tag,
                commit=commit,
                created_at=datetime.fromisoformat(note["created_at"]),
                message=note["message"],
                metadata=note["metadata"],
            )
            return _TaggedRevision(version, note["content_sha256"])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("ignoring tag %s: not a registry version (%s)", tag, error)
            return None

    @staticmethod
    def _refuse_nested(dataset: str, existing: set[str]) -> None:
        """DVC cannot track a folder inside another tracked folder (overlapping outputs)."""
        for other in existing:
            if other != dataset and (
                other.startswith(f"{dataset}/") or dataset.startswith(f"{other}/")
            ):
                raise ValueError(f"dataset {dataset!r} would overlap existing dataset {other!r}")

    def _dataset_of(self, tag: str) -> str:
        match = VERSION_TAG.fullmatch(tag)
        if match is None or not DATASET_NAME.fullmatch(match["dataset"]):
            raise RegistryError(f"unknown tag {tag!r}: expected '<dataset>/v<N>'")
        if not (self.root / ".git").exists():
            raise RegistryError(f"unknown tag {tag!r}: no registry at {self.root}")
        if not self._git_ok("rev-parse", "--quiet", "--verify", f"refs/tags/{tag}^{{commit}}"):
            raise RegistryError(f"unknown tag {tag!r} in the registry at {self.root}")
        return match["dataset"]

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        return self._run(["git", *args], cwd or self.root)

    def _git_ok(self, *args: str) -> bool:
        """Run a git query whose exit status is the answer."""
        done = subprocess.run(
            ["git", *args], cwd=self.root, env=self._env, capture_output=True, check=False
        )
        return done.returncode == 0

    def _dvc(self, *args: str, cwd: Path | None = None) -> str:
        return self._run([sys.executable, "-m", "dvc", *args], cwd or self.root)

    def _run(self, command: list[str], cwd: Path) -> str:
        done = subprocess.run(
            command, cwd=cwd, env=self._env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            tail = (done.stderr.strip() or done.stdout.strip())[-STDERR_TAIL_CHARS:]
            shown = " ".join(command[2:] if command[0] == sys.executable else command)
            raise RegistryError(f"`{shown}` failed (exit {done.returncode}) in {cwd}: {tail}")
        return done.stdout
