"""Where engineers' jobs run: threads of this process (local mode, asyncio), or Ray tasks on a cluster."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from autonomo.company.jobs import Job, JobResult, run_job
from autonomo.errors import SetupError

Backend = Callable[[Job], "asyncio.Future[JobResult]"]


def local_backend(job: Job) -> asyncio.Future[JobResult]:
    """Each job in a thread of this process: no Ray needed."""
    return asyncio.ensure_future(asyncio.to_thread(run_job, job))


def ray_backend(address: str, cpus_per_job: float = 1.0) -> Backend:
    """Each job a Ray task on the cluster at ADDRESS. Workers must share the workspace's file system (one
    machine, or a shared mount): a job reads and writes its worktree there."""
    try:
        import ray
    except ImportError as exc:
        raise SetupError("Ray is not installed: pip install 'autonomo[cluster]'") from exc
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, logging_level="ERROR")
    except (RuntimeError, ConnectionError, ValueError) as exc:
        raise SetupError(f"cannot join the Ray cluster at {address}: {exc}") from None
    remote = ray.remote(num_cpus=cpus_per_job, max_retries=0)(run_job)

    def submit(job: Job) -> asyncio.Future[JobResult]:
        return asyncio.wrap_future(remote.remote(job).future())

    return submit
