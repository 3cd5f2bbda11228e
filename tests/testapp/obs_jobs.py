"""Jobs for the observability tests: one that waits for the test while it runs."""

import asyncio
import logging
import threading
import time

from django_jobs.compat import task

logger = logging.getLogger("tests.obs_jobs")

#: Set by ``waits_for_the_test`` once it has printed and logged; it then waits for ``proceed``.
started = threading.Event()
proceed = threading.Event()


@task
def waits_for_the_test():
    print("printed by the job")
    logger.info("logged by the job")
    started.set()
    proceed.wait(30)
    return 1


@task
async def prints_from_to_thread():
    await asyncio.to_thread(print, "printed off-thread")
    return 1


@task(takes_context=True)
def logs_then_waits_for_cancel(context, seconds=20):
    """Logs and prints a line, then runs until cancelled (or ``seconds`` pass)."""
    logger.warning("first line, logged")
    print("second line, printed", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        context.raise_if_cancelled()
        time.sleep(0.02)
    return "not cancelled"
