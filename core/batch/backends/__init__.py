"""Where a batch's work runs. A backend is one module with a class of the `base.Backend` shape, registered in
`BACKENDS` by a name and a loader. Loaders import their module only when chosen (the local backend loads Qt,
the Dask one Dask), and inside a function so the packaged app's import analysis still finds them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.batch.backends.base import Backend
    from core.batch.backends.resize_pool import ResizePool
    from core.settings import Settings

#: A backend class: `(settings, *, interactive, pool) -> Backend`.
BackendClass = Callable[..., "Backend"]


def _local() -> BackendClass:
    from core.batch.backends.local import LocalBackend

    return LocalBackend


def _dask() -> BackendClass:
    from core.batch.backends.dask import DaskBackend

    return DaskBackend


BACKENDS: dict[str, Callable[[], BackendClass]] = {"local": _local, "dask": _dask}


def backend_name(settings: Settings) -> str:
    """A cluster address selects Dask; otherwise this machine."""
    return "dask" if settings.cluster else "local"


def create_backend(settings: Settings, *, interactive: bool = False, pool: ResizePool | None = None) -> Backend:
    """The backend the settings select. `interactive`: a window shows the batch. `pool`: resizer processes
    already starting, handed over (only the local backend takes one)."""
    backend_class = BACKENDS[backend_name(settings)]()
    return backend_class(settings, interactive=interactive, pool=pool)
