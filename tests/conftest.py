"""Test-wide set-up: Qt offscreen (set before any Qt import), logs kept out of the user's home, and the shared
loopback HTTP server."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_QUICK_BACKEND", "software")
# The command and the window log to the platform's state folder (core/logs.py); the children the tests start
# inherit this, so no test run writes into ~/.local/state.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="thumbnailer-test-state-")
atexit.register(shutil.rmtree, os.environ["XDG_STATE_HOME"], ignore_errors=True)
from tests.support.loopback import http_server, https_server, tls_cert  # noqa: E402, F401
