"""Test-wide set-up: Qt offscreen (set before any Qt import) and the shared loopback HTTP server."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_QUICK_BACKEND", "software")
from tests.loopback import http_server, https_server, tls_cert  # noqa: F401
