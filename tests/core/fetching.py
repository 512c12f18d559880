"""What the tests that call `core.download.fetch` directly share: short limits, a cancel flag never raised, and a
fixture that closes kept-alive connections so none outlives its test's server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.download.fetch import close_sessions
from core.download.limits import FetchLimits

FAST = FetchLimits(timeout=5)


def never() -> bool:
    return False


@pytest.fixture(autouse=True)
def fresh_sessions() -> Iterator[None]:
    yield
    close_sessions()
