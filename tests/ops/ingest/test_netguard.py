import pytest

from ops.ingest.netguard import NetworkPolicy, RefusedURL


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
