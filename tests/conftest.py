"""Shared fixtures: an isolated data root per test, and the shared media folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ops.settings import REPO_ROOT, Settings

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

pytest_plugins = ("tests.support.refresh",)

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose data root is a fresh temporary folder."""
    monkeypatch.setenv("CINESCOPE_HOME", str(tmp_path / "home"))
    return Settings()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"shared media not found at {SHARED_DATA} (only present on the team's machines)"
        )
    return SHARED_DATA
