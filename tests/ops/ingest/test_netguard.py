"""The network policy: refusals with reasons, and connections pinned to checked addresses."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore
import pytest

from ops.ingest.netguard import NetworkPolicy, PinnedBackend, RefusedURL


def policy(*hosts: str, private: tuple[str, ...] = ()) -> NetworkPolicy:
    return NetworkPolicy(frozenset(hosts), frozenset(private))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "private address"),
        ("http://10.1.2.3/x", "private address"),
        ("http://[::1]:8080/x", "private address"),
        ("http://127.0.0.1:9999/x", "private address"),
        ("https://cdn.elsewhere.example/clip.mp4", "host not allowed"),
        ("ftp://127.0.0.1:8765/x", "scheme"),
        ("file:///etc/passwd", "scheme"),
    ],
)
def test_refuses_with_reason(url: str, reason: str) -> None:
    with pytest.raises(RefusedURL) as caught:
        policy("127.0.0.1", private=("127.0.0.1:8765",)).check(url)
    assert reason in caught.value.reason


def test_allows_the_opted_in_private_host_and_port_only() -> None:
    guard = policy("127.0.0.1", private=("127.0.0.1:8765",))
    guard.check("http://127.0.0.1:8765/index.html")
    with pytest.raises(RefusedURL):
        guard.check("http://127.0.0.1:8766/index.html")


def test_hostname_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(RefusedURL) as caught:
        policy("localhost").check("http://localhost:8765/")
    assert "private address" in caught.value.reason


# --- resolving once, checking every address, connecting to a checked one ------------------------


class _Answers:
    """A resolver that gives scripted answers in turn (the last one repeats) and counts lookups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.lookups: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A local TCP socket that would accept any connection made to it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def _port(server: socket.socket) -> int:
    return int(server.getsockname()[1])


def test_every_resolved_address_is_checked() -> None:
    guard = NetworkPolicy(
        frozenset({"films.test"}), resolver=_Answers(["93.184.216.34", "127.0.0.1"])
    )
    with pytest.raises(RefusedURL) as caught:
        guard.check("http://films.test/catalog.html")
    assert caught.value.reason == "private address 127.0.0.1 (from films.test) refused"


def test_unresolvable_host_is_refused_with_reason() -> None:
    def no_such_host(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(RefusedURL) as caught:
        NetworkPolicy(frozenset({"films.test"}), resolver=no_such_host).check("http://films.test/")
    assert caught.value.reason.startswith("cannot resolve films.test")


def test_pinned_backend_refuses_a_private_answer_without_connecting(
    listener: socket.socket,
) -> None:
    answers = _Answers(["127.0.0.1"])
    backend = PinnedBackend(NetworkPolicy(frozenset({"films.test"}), resolver=answers))
    with pytest.raises(RefusedURL) as caught:
        backend.connect_tcp("films.test", _port(listener), timeout=5)
    assert "private address 127.0.0.1" in caught.value.reason
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever connected


def test_pinned_backend_connects_to_the_checked_address_after_one_lookup(
    listener: socket.socket,
) -> None:
    port = _port(listener)
    answers = _Answers(["::1", "127.0.0.1"])  # nothing listens on ::1: the next address is tried
    policy = NetworkPolicy(frozenset({"films.test"}), frozenset({f"films.test:{port}"}), answers)
    stream = PinnedBackend(policy).connect_tcp("films.test", port, timeout=5)
    try:
        listener.setblocking(True)
        listener.settimeout(5)
        accepted, _ = listener.accept()
        accepted.close()
    finally:
        stream.close()
    assert answers.lookups == [("films.test", port)]


class _EchoHost(BaseHTTPRequestHandler):
    """Answers every GET with the Host header it received."""

    def do_GET(self) -> None:
        body = self.headers.get("Host", "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def _certificate(tmp_path: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` only (not for 127.0.0.1), and its key."""
    pytest.importorskip("cryptography", reason="cryptography makes the test certificate")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_and_host_header_keep_the_host_name_while_connecting_to_the_pinned_ip(
    tmp_path: Path,
) -> None:
    cert_path, key_path = _certificate(tmp_path, "films.test")
    server_names: list[str | None] = []
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_path, key_path)
    server_tls.sni_callback = lambda sock, name, context: server_names.append(name)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHost)
    httpd.socket = server_tls.wrap_socket(httpd.socket, server_side=True)
    port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        policy = NetworkPolicy(
            frozenset({"films.test"}), frozenset({f"films.test:{port}"}), _Answers(["127.0.0.1"])
        )
        client_tls = ssl.create_default_context(cafile=str(cert_path))  # verifies films.test
        with httpcore.ConnectionPool(
            ssl_context=client_tls, network_backend=PinnedBackend(policy)
        ) as pool:
            response = pool.request("GET", f"https://films.test:{port}/")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    assert response.status == 200
    assert response.content == f"films.test:{port}".encode()
    assert server_names == ["films.test"]
