"""The local stacks' ports (`scripts/stack.sh ports`) stay below Linux's ephemeral range.

A port in that range can be taken while its server is down: clients retrying 127.0.0.1:P are, sooner or
later, given local port P and connect to themselves, and the server cannot listen on P again. The test
stack's PostgreSQL at 54330 lost its port that way during the 100 s outage of a fault test.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.stack import stack_ports


def _ports(stack: str, offset: int) -> dict[str, int]:
    ports = stack_ports(stack, offset)
    assert set(ports) == {"api", "localstack", "postgres", "cql", "console"}, ports
    return ports


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


@pytest.mark.parametrize("offset", [0, 100, 200])
@pytest.mark.parametrize("stack", ["dev", "test"])
def test_every_port_is_below_the_ephemeral_range(stack, offset):
    low = min(_ephemeral_low(), 32768)
    ports = _ports(stack, offset)
    assert all(0 < p < low for p in ports.values()), f"{stack} +{offset}: {ports} (ephemeral ports from {low})"


@pytest.mark.parametrize("offset", [0, 100])
def test_the_dev_and_test_stacks_share_no_port(offset):
    dev, test = _ports("dev", offset), _ports("test", offset)
    assert len(set(dev.values())) == len(dev) and len(set(test.values())) == len(test)
    assert not set(dev.values()) & set(test.values()), (dev, test)


def test_the_offset_shifts_every_port():
    base, shifted = _ports("test", 0), _ports("test", 100)
    assert {k: shifted[k] - base[k] for k in base} == {k: 100 for k in base}
