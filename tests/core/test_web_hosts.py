"""Many hosts as the real web has them: no state that grows with the hosts seen, international host names as
browsers encode them, and redirects that may not lead from the internet into a private network.

Every 127.x.y.z address reaches a server bound to 0.0.0.0 on Linux, so one loopback server plays many hosts.
Loopback addresses are never public, so the private-network tests name some of them public through the
Downloader's `reach` seam; production classifies real addresses (`reach_of`, tested on its own below).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.batch.scheduler import host_of
from core.download.fetch import KEPT_HOSTS, Downloader, FetchError, Reach, reach_of
from tests.support.fetching import FAST, never
from tests.support.loopback import LoopbackServer, image_bytes

COOKIE_IMAGE = "/cookie.jpg"


@pytest.fixture
def many_hosts() -> Iterator[LoopbackServer]:
    """A server every 127.x.y.z address reaches; every answer of COOKIE_IMAGE sets a cookie, as CDNs do."""
    with LoopbackServer(bind="0.0.0.0") as server:
        server.add(COOKIE_IMAGE, image_bytes("c"), {"Content-Type": "image/jpeg", "Set-Cookie": "visitor=1; Path=/"})
        yield server


def host(n: int) -> str:
    return f"127.0.{n // 250}.{n % 250 + 2}"


def cookies_sent(server: LoopbackServer, path: str) -> list[str | None]:
    return [r.headers.get("Cookie") for r in server.requests if r.path == path]


# --- no state that grows with the hosts seen ------------------------------------------------------------


def test_a_cookie_goes_with_its_redirect_chain_and_never_to_the_next_item(
    many_hosts: LoopbackServer, tmp_path: Path
) -> None:
    many_hosts.add("/login", b"", {"Location": "/after-login.jpg", "Set-Cookie": "session=42; Path=/"}, status=302)
    many_hosts.add("/after-login.jpg", image_bytes("a"), {"Content-Type": "image/jpeg"})
    with Downloader() as downloader:
        downloader.fetch(many_hosts.url("/login"), tmp_path, FAST, never)
        downloader.fetch(many_hosts.url(COOKIE_IMAGE), tmp_path, FAST, never)  # item 2, the same host
        downloader.fetch(many_hosts.url(COOKIE_IMAGE), tmp_path, FAST, never)  # item 3 after a Set-Cookie
        assert downloader.footprint().cookies == 0
    assert cookies_sent(many_hosts, "/after-login.jpg") == ["session=42"]  # within the chain: carried
    assert cookies_sent(many_hosts, COOKIE_IMAGE) == [None, None]  # across items: never


def test_what_a_download_thread_holds_stays_flat_over_2000_hosts(many_hosts: LoopbackServer, tmp_path: Path) -> None:
    with Downloader() as downloader:
        for n in range(2000):
            downloader.fetch(many_hosts.url(COOKIE_IMAGE, host=host(n)), tmp_path / "spool", FAST, never)
            if n == 49:
                after_50 = downloader.footprint()
        after_2000 = downloader.footprint()
    assert len({r.headers["Host"] for r in many_hosts.requests}) == 2000  # really 2,000 hosts, each setting a cookie
    assert after_50 == after_2000
    assert after_2000.cookies == 0
    assert after_2000.pools == KEPT_HOSTS  # one download thread, connections kept to the last few hosts only


# --- international host names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://xn--fa-hia.de/a.jpg", "xn--fa-hia.de"),
        ("http://faß.de/a.jpg", "xn--fa-hia.de"),  # an older journal's key, before normalise_url encoded it
        ("http://Faß.DE:8080/a.jpg", "xn--fa-hia.de:8080"),
        ("http://pics.test/a.jpg", "pics.test"),
        ("file:///pics/a.jpg", ""),
        ("data:image/png;base64,AAAA", ""),
    ],
)
def test_the_per_host_key_is_the_host_as_uts46_encodes_it(url: str, key: str) -> None:
    assert host_of(url) == key


# --- private-network safety -----------------------------------------------------------------------------------

PUBLIC_HOST, PRIVATE_HOST, OTHER_PRIVATE_HOST, THIS_COMPUTER = "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"
_TEST_REACH = {PUBLIC_HOST: Reach.PUBLIC, PRIVATE_HOST: Reach.PRIVATE, OTHER_PRIVATE_HOST: Reach.PRIVATE}


def test_reach(address: str) -> Reach:
    """127.0.0.1 plays a public host, .2 and .3 an intranet's; any other address is what it really is."""
    return _TEST_REACH.get(address, reach_of(address))


test_reach.__test__ = False  # type: ignore[attr-defined]  # a seam, not a test


def redirect_to(server: LoopbackServer, start: str, target: str) -> str:
    return server.url(f"/redirect/1?to={server.url('/img/x.jpg', host=target)}", host=start)


@pytest.mark.parametrize("target", [PRIVATE_HOST, THIS_COMPUTER])
def test_a_public_address_may_not_redirect_into_a_private_network(
    many_hosts: LoopbackServer, tmp_path: Path, target: str
) -> None:
    with Downloader(reach=test_reach) as downloader, pytest.raises(FetchError) as info:
        downloader.fetch(redirect_to(many_hosts, PUBLIC_HOST, target), tmp_path, FAST, never)
    where = "a private-network address" if target == PRIVATE_HOST else "an address of this computer"
    assert str(info.value) == (
        f"redirect refused: {target} is {where} ({target}), and a redirect that came from a public address "
        "may not lead there (private-network safety)"
    )
    assert not info.value.retryable
    assert many_hosts.hits("/img/x.jpg") == 0  # refused before the request went out


def test_nor_through_a_public_hop_or_a_kept_alive_connection(many_hosts: LoopbackServer, tmp_path: Path) -> None:
    intranet = many_hosts.url("/img/x.jpg", host=PRIVATE_HOST)
    via_public = many_hosts.url(f"/redirect/1?to={many_hosts.url(f'/redirect/1?to={intranet}')}", host=PRIVATE_HOST)
    with Downloader(reach=test_reach) as downloader:
        downloader.fetch(intranet, tmp_path, FAST, never)  # the user's own intranet address: fine, and kept alive
        with pytest.raises(FetchError, match="came from a public address"):
            downloader.fetch(via_public, tmp_path, FAST, never)
    assert many_hosts.hits("/img/x.jpg") == 1


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (PRIVATE_HOST, OTHER_PRIVATE_HOST),  # an intranet's redirects within it
        (PUBLIC_HOST, PUBLIC_HOST),
        (THIS_COMPUTER, PRIVATE_HOST),  # towards the more public is fine
        (PRIVATE_HOST, PUBLIC_HOST),
    ],
)
def test_redirects_that_stay_as_private_or_go_more_public_are_followed(
    many_hosts: LoopbackServer, tmp_path: Path, start: str, target: str
) -> None:
    with Downloader(reach=test_reach) as downloader:
        got = downloader.fetch(redirect_to(many_hosts, start, target), tmp_path, FAST, never)
    assert got.final_url == many_hosts.url("/img/x.jpg", host=target)


def test_addresses_the_user_gave_work_wherever_they_are(many_hosts: LoopbackServer, tmp_path: Path) -> None:
    with Downloader() as downloader:  # the real classification: every loopback address is this computer
        for where in (PUBLIC_HOST, PRIVATE_HOST, "localhost"):
            downloader.fetch(many_hosts.url("/img/x.jpg", host=where), tmp_path, FAST, never)
            downloader.fetch(redirect_to(many_hosts, where, THIS_COMPUTER), tmp_path, FAST, never)


@pytest.mark.parametrize(
    ("address", "reach"),
    [
        ("93.184.215.14", Reach.PUBLIC),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", Reach.PUBLIC),
        ("127.0.0.1", Reach.LOCAL),
        ("127.3.4.5", Reach.LOCAL),
        ("0.0.0.0", Reach.LOCAL),
        ("::", Reach.LOCAL),
        ("::1", Reach.LOCAL),
        ("::ffff:127.0.0.1", Reach.LOCAL),  # IPv4-mapped IPv6 counts as the IPv4 address
        ("::ffff:10.1.2.3", Reach.PRIVATE),
        ("::ffff:93.184.215.14", Reach.PUBLIC),
        ("10.1.2.3", Reach.PRIVATE),
        ("172.16.0.1", Reach.PRIVATE),
        ("172.31.255.255", Reach.PRIVATE),
        ("172.32.0.1", Reach.PUBLIC),
        ("192.168.1.1", Reach.PRIVATE),
        ("100.64.0.1", Reach.PRIVATE),  # carrier-grade NAT
        ("100.127.255.254", Reach.PRIVATE),
        ("169.254.169.254", Reach.PRIVATE),  # link-local: the cloud metadata service
        ("fc00::1", Reach.PRIVATE),
        ("fd12:3456::1", Reach.PRIVATE),
        ("fe80::1%eth0", Reach.PRIVATE),  # link-local with its zone, as getpeername gives it
    ],
)
def test_reach_of_addresses(address: str, reach: Reach) -> None:
    assert reach_of(address) == reach
