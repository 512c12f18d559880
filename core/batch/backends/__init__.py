"""Where a batch's work runs. A backend is one module with a class of the `base.Backend` shape, registered in
`BACKENDS` by name ("module:Class", imported only when chosen: the local one loads Qt, the Dask one Dask)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.batch.backends.base import Backend
    from core.batch.backends.resize_pool import ResizePool
    from core.settings import Settings

BACKENDS: dict[str, str] = {
    "local": "core.batch.backends.local:LocalBackend",
    "dask": "core.batch.backends.dask:DaskBackend",
}


def backend_name(settings: Settings) -> str:
    """A cluster address selects Dask; otherwise this machine."""
    return "dask" if settings.cluster else "local"


def create_backend(settings: Settings, *, interactive: bool = False, pool: ResizePool | None = None) -> Backend:
    """The backend the settings select. `interactive`: a window shows the batch. `pool`: resizer processes
    already starting, handed over (only the local backend takes one)."""
    module, _, name = BACKENDS[backend_name(settings)].partition(":")
    backend: Backend = getattr(importlib.import_module(module), name)(settings, interactive=interactive, pool=pool)
    return backend
