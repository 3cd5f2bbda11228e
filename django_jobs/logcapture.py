"""
Capturing what a job logs and prints during an attempt, to store as JobLog lines.

Capture follows the context, not the process: ``capture()`` marks the
current context (a contextvar, so the job's thread, and the coroutines and
``asyncio.to_thread`` calls it starts), and only records and prints made
there are kept. Everything else goes where it went before:

* Log records are seen through the log record factory, which returns every
  record unchanged; no handler is added, so a process without logging
  configuration still gets Python's last-resort output on stderr, and the
  records of a job still reach the site's handlers too.
* Prints go through a stand-in for ``sys.stdout``/``sys.stderr`` that writes
  to the stream it replaced whenever the current context is not capturing.
"""

import logging
import sys
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

#: A captured line: (when, level, logger name or "stdout"/"stderr", message).
LogLine = tuple[datetime, int, str, str]


class Capture:
    """
    The lines of one attempt, and what it printed after its last newline, per
    stream. ``take()`` hands out the lines not taken yet: the worker's log
    flusher stores them while the attempt runs, its report the rest.
    """

    def __init__(self):
        self.lines: list[LogLine] = []
        self.pending: dict[str, str] = {}
        #: Held while lines taken are being stored: the report's take waits for a flush in progress.
        self.lock = threading.Lock()
        self._taken = 0

    def take(self) -> list[LogLine]:
        """The lines captured since the last take (call with ``lock`` held)."""
        end = len(self.lines)  # the job's thread may append meanwhile: those wait for the next take
        taken, self._taken = self.lines[self._taken : end], end
        return taken

    def put_back(self, lines):
        """Lines taken that could not be stored: handed out again by the next take (``lock`` held)."""
        self._taken -= len(lines)

    def add_record(self, record):
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception as e:  # a record whose message cannot be formatted
            message = f"<unformattable log record {record.msg!r}: {e!r}>"
        self.lines.append((datetime.fromtimestamp(record.created, UTC), record.levelno, record.name, message))

    def add_text(self, name, level, text):
        *complete, rest = (self.pending.pop(name, "") + text).split("\n")
        now = datetime.now(UTC)
        self.lines.extend((now, level, name, line) for line in complete)
        if rest:
            self.pending[name] = rest

    def close(self):
        for name, rest in self.pending.items():  # a last line printed without a newline
            self.lines.append((datetime.now(UTC), logging.INFO if name == "stdout" else logging.WARNING, name, rest))
        self.pending.clear()


_current: ContextVar[Capture | None] = ContextVar("django_jobs_capture", default=None)
_install_lock = threading.Lock()
_factory_installed = False


def _install_record_factory():
    """Wrap the log record factory once: records made while capturing are also kept (django_jobs' own are not)."""
    global _factory_installed  # noqa: PLW0603  # once per process
    with _install_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            capturing = _current.get()
            if capturing is not None and not record.name.startswith("django_jobs."):
                capturing.add_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True


def install(level=logging.INFO):
    """
    Make sure records at ``level`` are created, so that a job's records at
    that level are captured even where the site logs only warnings.

    If that means lowering the root logger's level, each handler whose
    records so far came only through loggers that inherit the root level is
    given the old level, so that what it prints does not change. Handlers
    added later, and handlers that also serve a logger with a level of its
    own, are not adjusted (see docs/observability.md).
    """
    _install_record_factory()
    with _install_lock:
        root = logging.getLogger()
        if root.level <= level:
            return
        inheriting: set[logging.Handler] = set()
        explicit: set[logging.Handler] = set()
        loggers = [root, *(x for x in logging.Logger.manager.loggerDict.values() if isinstance(x, logging.Logger))]
        for logger in loggers:
            own_level = any(c.level for c in _chain(logger) if c is not root)
            reached = {h for c in _propagation(logger) for h in c.handlers}
            (explicit if own_level else inheriting).update(reached)
        for handler in inheriting - explicit:
            if handler.level < root.level:
                handler.setLevel(root.level)
        for handler in explicit:
            # It also serves loggers with levels of their own: its level must stay, so
            # a filter drops the records only the lower root level lets through.
            for old in [f for f in handler.filters if isinstance(f, AsBefore)]:
                handler.removeFilter(old)
            handler.addFilter(AsBefore(root.level))
        root.setLevel(level)


class AsBefore(logging.Filter):
    """
    Passes a record only if the logging configuration before ``install()``
    would have created it: its logger's own level, or its nearest ancestor's
    with one, else the root's old level.
    """

    def __init__(self, root_level):
        super().__init__()
        self.root_level = root_level

    def filter(self, record):
        logger = logging.Logger.manager.loggerDict.get(record.name)
        if isinstance(logger, logging.Logger):
            for current in _chain(logger):
                if current.parent is None:  # the root, whose level install() lowered
                    break
                if current.level:
                    return record.levelno >= current.level
        return record.levelno >= self.root_level


def _chain(logger):
    """``logger`` and its ancestors, up to the root."""
    current = logger
    while current is not None:
        yield current
        current = current.parent


def _propagation(logger):
    """The loggers whose handlers a record of ``logger`` reaches."""
    current = logger
    while current is not None:
        yield current
        current = current.parent if current.propagate else None


@contextmanager
def capture():
    """Within the block, this context's log records and prints go to the yielded Capture."""
    _install_record_factory()
    capture_print()
    capturing = Capture()
    token = _current.set(capturing)
    try:
        yield capturing
    finally:
        _current.reset(token)
        capturing.close()


class _ContextStream:
    """
    Stands in for sys.stdout/sys.stderr: in a context running an attempt,
    what is printed becomes log lines of that attempt; elsewhere it is written
    to the stream this replaced, unchanged.
    """

    def __init__(self, stream, level, name):
        self._stream, self._level, self._name = stream, level, name

    def write(self, text):
        capturing = _current.get()
        if capturing is None:
            return self._stream.write(text)
        capturing.add_text(self._name, self._level, text)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if _current.get() is None:
            self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


class _LastResort(logging.StreamHandler):
    """
    Python's last-resort handler (warnings logged where no handler is
    configured), writing to the real stderr: a job's warning is captured as
    a record, and still printed for the operator, not captured again as a print.
    """

    def __init__(self, level):
        logging.Handler.__init__(self, level)

    @property
    def stream(self):
        stream = sys.stderr
        return stream._stream if isinstance(stream, _ContextStream) else stream


def capture_print():
    """Put the stand-ins on sys.stdout and sys.stderr, unless they are there (idempotent)."""
    with _install_lock:
        if logging.lastResort is not None and not isinstance(logging.lastResort, _LastResort):
            logging.lastResort = _LastResort(logging.lastResort.level)
        if sys.stdout is not None and not isinstance(sys.stdout, _ContextStream):
            sys.stdout = _ContextStream(sys.stdout, logging.INFO, "stdout")
        if sys.stderr is not None and not isinstance(sys.stderr, _ContextStream):
            sys.stderr = _ContextStream(sys.stderr, logging.WARNING, "stderr")
