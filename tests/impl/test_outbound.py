"""The outbound address policy shared by http-request nodes and the agent's HTTP tool."""

from __future__ import annotations

import ipaddress

import pytest

from impl import outbound


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("10.0.0.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("::ffff:192.168.1.1", False),
        ("100.64.0.1", False),
        ("2606:2800:220:1::1", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert outbound.is_public(ipaddress.ip_address(address)) is public


def test_allow_list_by_name_address_or_network() -> None:
    loopback = ipaddress.ip_address("127.0.0.2")
    assert outbound.admitted("svc.internal", loopback, ["svc.internal"])
    assert outbound.admitted("other", loopback, ["127.0.0.2"])
    assert outbound.admitted("other", loopback, ["127.0.0.0/8"])
    assert not outbound.admitted("other", loopback, ["10.0.0.0/8", "svc.internal", "not-a/network"])


async def test_check_refuses_and_admits() -> None:
    with pytest.raises(outbound.Refused) as refused:
        await outbound.check("http://127.0.0.1:9/x", ())
    assert str(refused.value.address) == "127.0.0.1"
    assert str(await outbound.check("http://127.0.0.1:9/x", ("127.0.0.1",))) == "127.0.0.1"
    with pytest.raises(outbound.InvalidUrl):
        await outbound.check("file:///etc/passwd", ())
    with pytest.raises(outbound.Unresolvable):
        await outbound.check("http://no-such-host.invalid/", ())


def test_parse_allow_list_merges_sources() -> None:
    assert outbound.parse_allow_list(" A.test, 10.0.0.0/8 ,", None, "a.test,b.test") == (
        "a.test",
        "10.0.0.0/8",
        "b.test",
    )
