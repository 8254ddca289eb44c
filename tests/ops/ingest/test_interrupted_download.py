"""A download killed half-way leaves nothing in the raw store; the next run completes it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ops.sample_site.server import SampleSiteServer
from ops.settings import Settings

SIZE = 3_000_000


def _raw_files(settings: Settings) -> list[Path]:
    return (
        [p for p in settings.raw_dir.rglob("*") if p.is_file()] if settings.raw_dir.exists() else []
    )


def test_kill_mid_download_then_resume(tmp_path: Path) -> None:
    public = tmp_path / "site" / "public"
    (public / "media").mkdir(parents=True)
    payload = os.urandom(SIZE)
    (public / "media" / "big.mp4").write_bytes(payload)
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "big",
        "items": [
            {
                "id": "big",
                "title": "Big file",
                "url": "/big.html",
                "attachments": [{"url": "/throttle/media/big.mp4", "mime_type": "video/mp4"}],
            }
        ],
    }
    (public / "feed.json").write_text(json.dumps(feed))

    with SampleSiteServer(tmp_path / "site", throttle_bytes_per_s=400_000) as server:
        sources = tmp_path / "sources.yaml"
        sources.write_text(
            "sources:\n  - name: big\n    kind: http\n"
            f"    feeds: ['{server.base_url}/feed.json']\n"
            f"    allow_private: ['127.0.0.1:{server.port}']\n    respect_robots: false\n"
        )
        env = os.environ | {
            "CINESCOPE_HOME": str(tmp_path / "home"),
            "CINESCOPE_SOURCES_FILE": str(sources),
        }
        settings = Settings(home=tmp_path / "home", sources_file=sources)
        command = [sys.executable, "-m", "ops.cli", "ingest", "--source", "big"]
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        scratch = settings.tmp_dir / "downloads"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            partials = list(scratch.glob("*.part")) if scratch.exists() else []
            if partials and partials[0].stat().st_size > 100_000:
                break
            time.sleep(0.05)
        else:
            process.kill()
            raise AssertionError("the download never started")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert _raw_files(settings) == []  # only the scratch folder holds the partial
        assert list(scratch.glob("*.part"))

        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    stored = _raw_files(settings)
    assert [p.name for p in stored] == [hashlib.sha256(payload).hexdigest()]
    assert stored[0].read_bytes() == payload
    assert list(scratch.glob("*.part")) == []
