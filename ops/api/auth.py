"""The bearer token that guards the API's write and admin endpoints.

The token is ``settings.api_token`` when set; otherwise a random one is generated on
first use and kept in ``home/api/token`` (mode 0600), so the server and the person
calling it find the same token without any setup. Reads stay open: only calls that
change what is live need the token.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ops.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="the token from `cinescope serve`")


def token_path(settings: Settings) -> Path:
    """Where a generated token is kept."""
    return settings.home / "api" / "token"


def api_token(settings: Settings) -> str:
    """The configured token, or else the stored one, generated and stored on first use."""
    if settings.api_token:
        return settings.api_token
    path = token_path(settings)
    stored = _read_token(path)
    if stored:
        return stored
    _store_new_token(path)
    stored = _read_token(path)
    if not stored:
        raise RuntimeError(f"{path}: the API token file is empty; delete it to generate a new one")
    return stored


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def _store_new_token(path: Path) -> None:
    """Write a fresh token beside ``path`` (0600), then link it into place.

    ``os.link`` fails when the file exists, so of two processes starting at once
    exactly one token wins and both read that one back; no reader sees a partial file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp creates it 0600
            handle.write(secrets.token_urlsafe(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


class TokenGuard:
    """A FastAPI dependency: 401 without a bearer token, 403 with a wrong one."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._token: bytes | None = None

    def _expected(self) -> bytes:
        if self._token is None:  # resolved on first use, so creating the app writes nothing
            self._token = api_token(self._settings).encode()
        return self._token

    def __call__(
        self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> None:
        if credentials is None:  # no header, or not a Bearer one
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="this endpoint needs 'Authorization: Bearer <token>' "
                f"(the token is in {token_path(self._settings)} or CINESCOPE_API_TOKEN)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(credentials.credentials.encode(), self._expected()):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="wrong API token")
