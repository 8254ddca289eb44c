"""The API token: configured or generated once (0600), and the guard on admin calls."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from fastapi.testclient import TestClient

from ops.api.app import create_app
from ops.api.auth import api_token, token_path
from ops.settings import Settings


def test_a_generated_token_is_stored_private_and_reused(home: Settings) -> None:
    token = api_token(home)

    path = token_path(home)
    assert path == home.home / "api" / "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 32
    assert api_token(home) == token
    assert not [entry for entry in path.parent.iterdir() if entry.name.endswith(".part")]


def test_concurrent_first_calls_agree_on_one_token(home: Settings) -> None:
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(api_token(home))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(tokens) == 8
    assert set(tokens) == {token_path(home).read_text().strip()}


def test_the_configured_token_wins_and_nothing_is_written(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", api_token="configured-token")

    assert api_token(settings) == "configured-token"
    assert not token_path(settings).exists()


def test_admin_calls_need_the_bearer_token(home: Settings) -> None:
    client = TestClient(create_app(home))
    assert not token_path(home).exists()  # creating the app writes nothing

    missing = client.post("/admin/index/rollback")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["detail"]

    basic = client.post("/admin/index/publish/v000001", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401

    wrong = client.post("/admin/index/rollback", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert wrong.json()["detail"] == "wrong API token"

    right = {"Authorization": f"Bearer {api_token(home)}"}
    allowed = client.post("/admin/index/rollback", headers=right)
    assert allowed.status_code == 409  # past the guard: nothing is published to roll back


def test_reads_need_no_token(home: Settings) -> None:
    client = TestClient(create_app(home))

    assert client.get("/health").status_code == 200
    assert client.get("/index/versions").status_code == 200
    assert not token_path(home).exists()
