"""Where a worker's own log lines go when the site configured nowhere."""

import logging
import sys

#: The format of the lines ``runworker`` prints when the site has no logging configuration.
DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to_stderr_unless_configured():
    """
    Give the ``django_jobs`` logger a stderr handler at INFO, unless a handler
    already receives its records (``LOGGING`` configured it, or the root
    logger). Without it, a worker started with no ``LOGGING`` would print
    nothing of its own: Python's fallback prints only warnings, and only
    while no handler exists anywhere up the hierarchy.

    Returns the handler added, or None.
    """
    logger = logging.getLogger("django_jobs")
    if logger.hasHandlers():
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(DEFAULT_FORMAT))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return handler
