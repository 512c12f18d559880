"""Batch Thumbnailer's engine: sources, fetching, resizing, journal and runner. No widgets here."""

import functools


@functools.cache
def _version() -> str:
    """The installed distribution's version, else the source tree's pyproject.toml (one place to bump)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("batch-thumbnailer")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        try:
            with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as fh:
                return str(tomllib.load(fh)["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


def __getattr__(name: str) -> str:
    """`__version__` on first use: importlib.metadata costs every process ~25 ms, resizer workers included."""
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
