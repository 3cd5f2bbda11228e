"""
``manage.py jobs`` on a backend whose jobs live in several databases (OPTIONS['DATABASES']):
which subcommands run in each, and the ``"database:id"`` job ids.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..backend import DatabaseBackend

#: Subcommands run in each database of a backend with several, unless --database picks one.
EACH_DATABASE = {"stats", "list", "pause", "resume", "prune", "clear"}


class SeveralDatabases:
    """What the jobs command needs to work on several databases (``self.backend``, ``self.using``)."""

    backend: "DatabaseBackend"
    using: str
    collected: dict | None = None  # JSON of each database, printed as one object

    def out(self, text: str = "") -> None:
        raise NotImplementedError  # the command's

    def print_json(self, value: Any) -> None:
        raise NotImplementedError  # the command's

    def in_each_database(self, handler, aliases, options):
        """Run ``handler`` in each database: under a heading each, or as one JSON object keyed by database."""
        self.collected = {} if options.get("json") else None
        for alias in aliases:
            self.using = alias
            if self.collected is None:
                self.out(f"== database {alias} ==")
            handler(**options)
        if self.collected is not None:
            value, self.collected = self.collected, None
            self.print_json(value)

    def locate(self, job_id):
        """``(database, job id)`` of a job id: ``"alias:id"`` names its database, a plain id is in --database's."""
        if len(self.backend.databases) > 1 and ":" in str(job_id):
            return self.backend.locate(job_id)
        return self.using, job_id

    def shown_id(self, job_id):
        """A job id as this backend's results name it: ``"alias:id"`` with several databases."""
        return f"{self.using}:{job_id}" if len(self.backend.databases) > 1 else job_id
