"""Batch Thumbnailer's engine: sources, fetching, resizing, journal and runner. No widgets here."""

from importlib.metadata import PackageNotFoundError, version


def _version() -> str:
    """The installed distribution's version, else the source tree's pyproject.toml (one place to bump)."""
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


__version__ = _version()
