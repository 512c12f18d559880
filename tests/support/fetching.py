"""What the tests that call `core.download.fetch` directly share: short limits, a cancel flag never raised, and a
Downloader per test, closed at its end so no kept-alive connection outlives its test's server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.download.fetch import Downloader
from core.download.limits import FetchLimits

FAST = FetchLimits(timeout=5)


def never() -> bool:
    return False


@pytest.fixture(name="downloader")
def downloader_fixture() -> Iterator[Downloader]:
    with Downloader() as made:
        yield made
