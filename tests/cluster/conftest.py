"""A real Dask cluster for the tests: a `distributed.LocalCluster` of worker processes on loopback."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

distributed = pytest.importorskip("distributed", reason="the cluster extra is not installed")


class DaskCluster:
    """A LocalCluster, a client of our own to look at it, and a way to kill a worker process."""

    def __init__(self, workers: int, threads: int, **config: object) -> None:
        import dask

        with dask.config.set(config):
            self.cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=threads,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",  # a free port: no clash with another cluster on 8787
            )
        self.client = distributed.Client(self.cluster, set_as_default=False)
        self.address: str = self.cluster.scheduler_address

    def worker_pids(self) -> dict[str, int]:
        return self.client.run(os.getpid)

    def kill_worker(self, address: str) -> int:
        """SIGKILL one worker process, as the OOM killer would; its nanny starts a new one."""
        pid = self.worker_pids()[address]
        os.kill(pid, signal.SIGKILL)
        return pid

    def busy_workers(self) -> list[str]:
        """Workers running a task now."""
        return [w for w, keys in self.client.processing().items() if keys]

    def task_count(self) -> int:
        """Tasks the scheduler still knows of (0 once a batch's futures are finished or cancelled)."""
        return len(self.cluster.scheduler.tasks)

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[DaskCluster]:
    c = DaskCluster(workers=2, threads=2)
    yield c
    c.close()
