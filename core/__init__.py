"""Batch Thumbnailer's engine: sources, fetching, resizing, journal and runner. No widgets here."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("batch-thumbnailer")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0"
