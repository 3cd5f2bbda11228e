"""procrastinate tasks (PROCRASTINATE_IMPORT_PATHS); a failed attempt is retried once, at once."""

import procrastinate
from procrastinate.contrib.django import app

from . import jobbodies

RETRY_ONCE = procrastinate.RetryStrategy(max_attempts=1, wait=0)


@app.task(name="noop")
def noop():
    pass


@app.task(name="stamp")
def stamp(i):
    jobbodies.stamp(i)


@app.task(name="flaky", retry=RETRY_ONCE)
def flaky(i):
    jobbodies.flaky(i)


@app.task(name="sleepy", retry=RETRY_ONCE)
def sleepy(i):
    jobbodies.sleepy(i)
