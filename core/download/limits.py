"""The limits of one download attempt: plain data, importable without requests (the settings build it)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_USER_AGENT = "BatchThumbnailer/0.1"


@dataclass(frozen=True)
class FetchLimits:
    """Limits of one attempt. `timeout` is the TOTAL budget (headers, redirects and body): a per-read
    timeout alone never ends a server that drips one byte a second."""

    timeout: float = 30.0
    max_bytes: int = 50 * 1024**2
    user_agent: str = DEFAULT_USER_AGENT
    max_redirects: int = 10
