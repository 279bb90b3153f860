"""Three ways to run a corpus's jobs, each a generator of index rows as inputs finish.

- :func:`run_here`: one after another in this process (``--jobs 1``);
- :func:`run_pool`: N worker processes on this machine (``--jobs N``), each with its share
  of the cores;
- :func:`run_ray`: one Ray task per input on a Ray cluster (``--ray [ADDRESS]``); Ray does
  the scheduling.

All three run :func:`~avaffect.corpus.job.run_job` on every input. On Ctrl-C or SIGTERM
they pass the signal on to the inputs in flight (each closes its outputs and writes an
``interrupted`` summary), yield those rows, start nothing more, and re-raise.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import signal
from collections.abc import Iterator

from avaffect.corpus.index import FAILED, pending_row
from avaffect.corpus.job import Job, init_worker, run_job, run_job_in_worker, run_job_on_ray
from avaffect.errors import AvaffectError
from avaffect.run_status import EXIT_SIGINT, Interrupted

log = logging.getLogger("avaffect.corpus")

WORKER_DIED = (
    "the worker process died while this input ran (crash, out of memory or killed); "
    "re-run the same command to retry it"
)


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(jobs: int, cpus: int | None = None) -> int:
    """Each of ``jobs`` workers' share of the cores (at least one thread)."""
    return max(1, (cpus or available_cpus()) // max(1, jobs))


def run_here(jobs: list[Job]) -> Iterator[dict]:
    """One input after another in this process; a signal stops the input in hand (the
    analysis handles it) and then the corpus."""
    for job in jobs:
        row = run_job(job)
        yield row
        if row["status"] == "interrupted":
            # The signal was taken by the input's own run: the corpus stops here too.
            raise Interrupted(int(row["exit_status"] or EXIT_SIGINT) - 128)


def run_pool(jobs: list[Job], workers: int) -> Iterator[dict]:
    """``workers`` processes, at most one input each at a time; a worker that dies fails
    only the inputs it had in flight, and a fresh pool takes over the rest."""
    queue = list(reversed(jobs))
    threads = threads_per_worker(workers)
    log.info("%d worker processes, %d thread(s) each", workers, threads)
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads
    while queue:
        pool = cf.ProcessPoolExecutor(
            workers, mp_context=context, initializer=init_worker, initargs=(threads,)
        )
        try:
            yield from _drain(pool, queue, workers)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _drain(pool: cf.ProcessPoolExecutor, queue: list[Job], workers: int) -> Iterator[dict]:
    running: dict[cf.Future, Job] = {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                job = queue.pop()
                running[pool.submit(run_job_in_worker, job)] = job
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                try:
                    yield future.result()
                except cf.process.BrokenProcessPool:
                    yield _failed(job, WORKER_DIED)
                    for other in running.values():  # the same broken pool took these too
                        yield _failed(other, WORKER_DIED)
                    return  # a fresh pool takes the queue
    except KeyboardInterrupt as err:
        _forward(pool, getattr(err, "signum", signal.SIGINT))
        for future in cf.as_completed(running):
            yield _result_or_failed(future, running[future])
        raise


def _forward(pool: cf.ProcessPoolExecutor, signum: int) -> None:
    """The parent's signal to every worker: busy ones stop their input, idle ones ignore it."""
    for pid in list(getattr(pool, "_processes", None) or {}):
        try:
            os.kill(pid, signum)
        except OSError:
            pass


def _result_or_failed(future: cf.Future, job: Job) -> dict:
    try:
        return future.result()
    except Exception:  # noqa: BLE001 - a broken pool while stopping: that input failed
        return _failed(job, WORKER_DIED)


def _failed(job: Job, reason: str) -> dict:
    return {
        **pending_row(job.source, job.name),
        "status": FAILED,
        "exit_status": 1,
        "reason": reason,
    }


def import_ray():
    try:
        import ray
    except ImportError:
        raise AvaffectError(
            "--ray needs Ray: pip install 'avaffect[cluster]' (or pip install ray)"
        ) from None
    return ray


def run_ray(jobs: list[Job], address: str | None, threads: int = 1) -> Iterator[dict]:
    """One Ray task per input, ``threads`` CPUs each. ``address`` None starts a local Ray
    instance (or joins the one ``$RAY_ADDRESS`` names); else it is the cluster's address,
    e.g. ``auto`` on a node of it or ``ray://head:10001`` from outside."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(
                address=address, include_dashboard=False, log_to_driver=False,
                logging_level=logging.WARNING,
            )  # fmt: skip
        except Exception as err:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError...
            where = address or "a local instance"
            raise AvaffectError(f"Ray: cannot connect to {where} ({err}); check --ray") from None
    task = ray.remote(num_cpus=threads, max_retries=0)(run_job_on_ray)
    pending = {task.remote(job, threads): job for job in jobs}
    try:
        yield from _collect(ray, pending)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)
        for ref, job in pending.items():
            yield _ray_result(ray, ref, job)
        raise
    finally:
        if started:
            ray.shutdown()


def _collect(ray, pending: dict) -> Iterator[dict]:
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            yield _ray_result(ray, ref, pending.pop(ref))


def _ray_result(ray, ref, job: Job) -> dict:
    try:
        return ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        return {**_failed(job, "cancelled by Ctrl-C before it finished"), "status": "interrupted"}
    except ray.exceptions.RayError as err:
        return _failed(job, f"the Ray task failed: {str(err).splitlines()[0]}")
