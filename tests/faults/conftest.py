"""Fixtures of the fault suite (its `soak` marker is registered in pyproject.toml)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.loopback import LoopbackServer


@pytest.fixture(scope="module")
def module_server() -> Iterator[LoopbackServer]:
    """One loopback server for a module whose cases all run in one batch."""
    with LoopbackServer() as server:
        yield server
