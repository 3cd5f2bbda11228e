"""
Where a worker keeps the state that must outlive one transaction: on
PostgreSQL, its LISTEN for wake-ups and cancels, the scheduler leader's
advisory lock, and each worker's liveness lock. All of it needs a session
of its own on the server, which a transaction pooler (PgBouncer in
``pool_mode = transaction``) does not give: see docs/production.md, "Behind
PgBouncer".
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Sessions:
    """
    A backend's ``POOLED`` and ``LISTEN_DATABASE`` options. ``pooled``: the
    job database goes through a transaction pooler. ``listen_database``: a
    database alias connected directly (in session mode) to the same
    PostgreSQL database, used only for LISTEN and the session locks.
    """

    pooled: bool = False
    listen_database: str | None = None
    #: Seconds the scheduler leader's lease lasts unless renewed, where no session lock can hold
    #: leadership: a dead leader is replaced after at most this.
    leader_lease: float = 5.0

    def database(self, using: str) -> str | None:
        """The alias whose connections may keep session state, or None: none may."""
        if self.listen_database:
            return self.listen_database
        return None if self.pooled else using
