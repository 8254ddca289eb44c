"""The sample site server over real HTTP: validators, 304s, trap routes, safety, counters."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ops.sample_site.generate import SiteManifest, generate_site
from ops.sample_site.server import EVIL_CONTENT_DISPOSITION, SampleSiteServer


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SiteManifest]:
    root = tmp_path_factory.mktemp("served")
    manifest = generate_site(root, items=4, size_cap_bytes=100_000)
    (root / "secret.txt").write_text("root:x:0:0:do not serve me\n", encoding="utf-8")
    (root / "public" / "media" / "escape.txt").symlink_to(root / "secret.txt")
    return root, manifest


@pytest.fixture
def server(site: tuple[Path, SiteManifest]) -> Iterator[SampleSiteServer]:
    with SampleSiteServer(site[0], slow_delay_s=30.0) as running:
        yield running


@pytest.fixture
def client(server: SampleSiteServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=5.0, trust_env=False) as http:
        yield http


def _raw_get(server: SampleSiteServer, target: str) -> bytes:
    """Send a request line exactly as written (httpx would normalise the dot segments)."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_serves_files_with_validators(
    site: tuple[Path, SiteManifest], client: httpx.Client
) -> None:
    root, manifest = site
    item = manifest.items[0]
    response = client.get(item.path)
    assert response.status_code == 200
    assert response.content == (root / "public" / item.path.lstrip("/")).read_bytes()
    assert response.headers["content-length"] == str(item.bytes)
    assert response.headers["content-type"] == "video/mp4"
    etag = response.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert response.headers["last-modified"].endswith("GMT")
    page = client.get("/index.html")
    assert page.headers["content-type"] == "text/html"  # pages declare their own charset


def test_if_none_match_gives_304(client: httpx.Client) -> None:
    etag = client.get("/feed.json").headers["etag"]
    not_modified = client.get("/feed.json", headers={"If-None-Match": etag})
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert not_modified.headers["etag"] == etag
    listed = client.get("/feed.json", headers={"If-None-Match": f'"nope", W/{etag}'})
    assert listed.status_code == 304
    assert client.get("/feed.json", headers={"If-None-Match": '"other"'}).status_code == 200


def test_if_modified_since_gives_304(client: httpx.Client) -> None:
    last_modified = client.get("/robots.txt").headers["last-modified"]
    assert (
        client.get("/robots.txt", headers={"If-Modified-Since": last_modified}).status_code == 304
    )
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get("/robots.txt", headers={"If-Modified-Since": old}).status_code == 200
    assert client.get("/robots.txt", headers={"If-Modified-Since": "garbage"}).status_code == 200
    both = {"If-Modified-Since": last_modified, "If-None-Match": '"changed"'}
    assert client.get("/robots.txt", headers=both).status_code == 200  # the ETag decides


def test_head_sends_headers_only(client: httpx.Client, server: SampleSiteServer) -> None:
    response = client.head("/sitemap.xml")
    full = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(full.content))
    assert response.headers["etag"] == full.headers["etag"]


def test_flaky_fails_once_then_serves(client: httpx.Client, server: SampleSiteServer) -> None:
    assert client.get("/flaky/robots.txt").status_code == 500
    second = client.get("/flaky/robots.txt")
    assert second.status_code == 200
    assert second.content == client.get("/robots.txt").content
    assert server.requests_for("/flaky/robots.txt") == 2


def test_slow_route_times_out_and_stop_abandons_it(site: tuple[Path, SiteManifest]) -> None:
    running = SampleSiteServer(site[0], slow_delay_s=3600.0).start()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{running.base_url}/slow/robots.txt", timeout=0.5, trust_env=False)
    # One kept-alive connection: its first answer proves a handler thread serves it, so
    # the slow request sent next is handled, before or after stop(), by that thread.
    connection = http.client.HTTPConnection(running.host, running.port, timeout=60)
    connection.request("GET", "/robots.txt")
    assert connection.getresponse().read().startswith(b"User-agent")
    connection.request("GET", "/slow/robots.txt")
    running.stop()
    # Abandoned: the connection closes with no answer. Waiting out the hour instead would
    # end in a socket timeout, not in this error.
    with pytest.raises(http.client.RemoteDisconnected):
        connection.getresponse()
    connection.close()
    assert running.requests_for("/slow/robots.txt") == 2


def test_slow_route_answers_after_its_delay(site: tuple[Path, SiteManifest]) -> None:
    with SampleSiteServer(site[0], slow_delay_s=0.2) as running:
        response = httpx.get(f"{running.base_url}/slow/robots.txt", timeout=5, trust_env=False)
        assert response.status_code == 200 and b"Disallow" in response.content


def test_private_redirect_is_only_a_location(client: httpx.Client) -> None:
    response = client.get("/go/private", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "http://169.254.169.254/latest/meta-data/"


def test_download_names_a_traversing_file(
    site: tuple[Path, SiteManifest], client: httpx.Client
) -> None:
    root, manifest = site
    (trap,) = [t for t in manifest.traps if t.name == "path_traversal"]
    response = client.get(trap.url_path)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == EVIL_CONTENT_DISPOSITION
    token = trap.url_path.split("id=", 1)[1]
    assert response.content == (root / "public" / "downloads" / f"{token}.mp4").read_bytes()
    assert client.get("/download?id=../../manifest").status_code == 404
    assert client.get("/download").status_code == 404


def test_throttled_route_streams_the_whole_file(client: httpx.Client) -> None:
    response = client.get("/throttle/feed.json")
    assert response.content == client.get("/feed.json").content


@pytest.mark.parametrize(
    "target",
    [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/media/..%2f..%2fsecret.txt",
        "/flaky/../../secret.txt",
        "/media/%5c..%5csecret.txt",
        "/media/x%00.mp4",
    ],
)
def test_paths_leaving_the_site_are_refused(server: SampleSiteServer, target: str) -> None:
    response = _raw_get(server, target)
    assert response.startswith(b"HTTP/1.1 400")
    assert b"root:" not in response


def test_symlinks_out_of_the_site_and_missing_files_are_404(client: httpx.Client) -> None:
    assert client.get("/media/escape.txt").status_code == 404
    assert client.get("/media/no-such-file.mp4").status_code == 404
    assert client.get("/").status_code == 200  # a folder serves its index.html


def test_counters(client: httpx.Client, server: SampleSiteServer) -> None:
    server.reset_counters()
    sizes = [len(client.get(path).content) for path in ("/robots.txt", "/robots.txt", "/feed.json")]
    client.get("/robots.txt", headers={"If-None-Match": client.get("/robots.txt").headers["etag"]})
    client.get("/download?id=whatever")
    assert server.requests_for("/robots.txt") == 4
    assert server.requests_for("/feed.json") == 1
    assert server.requests_for("/download") == 1
    assert server.bytes_sent == sum(sizes) + sizes[0]
    server.reset_counters()
    assert (server.requests_for("/robots.txt"), server.bytes_sent) == (0, 0)


def test_base_url_and_missing_site(tmp_path: Path, server: SampleSiteServer) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}" and server.port > 0
    with pytest.raises(FileNotFoundError, match="no generated site"):
        SampleSiteServer(tmp_path).start()
