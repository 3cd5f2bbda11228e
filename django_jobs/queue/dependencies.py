"""
Dependencies between jobs (``depends_on``): a job waits (``transitions.ENQUEUE_WAITING``)
while some job it depends on has not finished, and is released or abandoned in
the transaction that records that dependency's end.

Each waiting job counts its unfinished dependencies (``dependencies_left``):
the end of a job costs one look-up of its own dependents and, when it has
some, one SELECT … FOR UPDATE of them, one UPDATE per distinct decrement
(usually one) and one guarded move. Siblings are
never scanned, so a fan-in of 10,000 jobs costs the same per completion as a
fan-in of two.

Two completions racing for one dependent cannot both release it: each
decrement locks the dependent's row until its transaction commits, the
second sees the first's count, and only the UPDATE that finds the job still
waiting with no dependency left moves it (``transitions.UNBLOCK``).
"""

from collections import Counter
from dataclasses import dataclass

from django.db.models import F
from django.db.models.functions import Now

from ..exceptions import DependencyFailed, DependencyNotRetried, InvalidJobArguments
from ..models import Dependency, Job, JobRun
from ..states import JobState, RunOutcome
from ..transitions import ABANDON, ENQUEUE_WAITING, UNBLOCK
from .errors import ErrorInfo, storable
from .guarded import finishing, move, open_new

#: States of a dependency that will never succeed.
ENDED_BADLY = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})


def dependencies_of(job):
    """The jobs ``job`` (unsaved) depends on: job ids (int) and unsaved Jobs of the same batch."""
    return getattr(job, "depends_on", None) or ()


def prepare(jobs, using):
    """
    Check and lock the existing jobs the unsaved ``jobs`` depend on, and set
    each job with unfinished dependencies up to be inserted waiting. Raises
    InvalidJobArguments (nothing written) for an unknown job id, or for a
    dependency that already failed, was cancelled or expired when the job
    does not run on failure (it could never run).
    """
    ids = sorted({d for job in jobs for d in dependencies_of(job) if not isinstance(d, Job)})
    states = {}
    if ids:
        # Locked in id order, as completions lock them: a dependency cannot end between this
        # look-up and the commit of our links (its completion would then not see them).
        states = dict(
            Job.objects.using(using).select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", "state")
        )
        unknown = [pk for pk in ids if pk not in states]
        if unknown:
            raise InvalidJobArguments(f"depends_on names unknown job(s) {unknown}: nothing was enqueued.")
    for job in jobs:
        unfinished = 0
        for dependency in dependencies_of(job):
            if isinstance(dependency, Job):
                unfinished += 1
                continue
            state = states[dependency]
            if state in ENDED_BADLY and not job.run_on_failure:
                raise InvalidJobArguments(
                    f"depends_on job {dependency} is {state}: this job would never run "
                    "(enqueue it with run_on_failure=True to run it anyway). Nothing was enqueued."
                )
            unfinished += state not in (JobState.SUCCEEDED, *ENDED_BADLY)
        if unfinished:
            open_new(ENQUEUE_WAITING, job, dependencies_left=unfinished)


def left_to_wait_for(job, using):
    """
    How many of the jobs ``job`` (about to be retried) depends on have not
    finished, their rows locked so that none finishes unseen before the retry
    commits. Raises DependencyNotRetried when one failed, was cancelled or expired
    and ``job`` does not run on failure: it could never run.
    """
    ids = sorted(Dependency.objects.using(using).filter(dependent_id=job.pk).values_list("dependency_id", flat=True))
    if not ids:
        return 0
    found = dict(
        Job.objects.using(using).select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", "state")
    )
    if not job.run_on_failure:
        bad = [(pk, state) for pk, state in found.items() if state in ENDED_BADLY]
        if bad:
            pk, state = bad[0]
            raise DependencyNotRetried(
                f"Job {job.pk} depends on job {pk}, which is {state}: it would never run. "
                f"Retry job {pk} first (or both, in that order)."
            )
    return sum(state not in (JobState.SUCCEEDED, *ENDED_BADLY) for state in found.values())


def link(jobs, inserted, using):
    """
    Write the Dependency rows of ``jobs`` once inserted; ``inserted`` maps
    ``id(unsaved Job)`` to the id of the job it became (or found by uniqkey).
    """
    rows = []
    for job, pk in ((job, inserted[id(job)]) for job in jobs):
        for position, dependency in enumerate(dependencies_of(job)):
            target = inserted[id(dependency)] if isinstance(dependency, Job) else dependency
            rows.append(Dependency(dependent_id=pk, dependency_id=target, position=position))
    if rows:
        Dependency.objects.using(using).bulk_create(rows)


def succeeded(job_ids, using):
    """The jobs ``job_ids`` succeeded (in the caller's transaction): release what waited for them."""
    _finished(job_ids, None, using)


def ended_badly(job_ids, why, using):
    """
    The jobs ``job_ids`` failed for good, were cancelled or expired (``why``
    says which), in the caller's transaction: their waiting dependents are
    abandoned, transitively, except those that run on failure, which count
    them as finished.
    """
    _finished(job_ids, why, using)


def _finished(job_ids, why, using):
    frontier: dict[str | None, list[int]] = {why: list(job_ids)}
    while frontier:
        reason, ids = frontier.popitem()
        links = list(
            Dependency.objects.using(using)
            .filter(dependency_id__in=ids, dependent__state=JobState.WAITING)
            .values_list("dependent_id", "dependency_id", "dependent__run_on_failure")
        )
        if not links:
            continue
        # Locked in id order, as every multi-row statement locks jobs: two completions releasing
        # the same jobs wait for each other, never deadlock; what was released meanwhile drops out.
        waiting = set(
            Job.objects.using(using)
            .filter(pk__in=sorted({dependent for dependent, _d, _f in links}), state=JobState.WAITING)
            .order_by("pk")
            .select_for_update()
            .values_list("pk", flat=True)
        )
        links = [link for link in links if link[0] in waiting]
        if reason is None:
            counted = [dependent for dependent, _dependency, _on_failure in links]
        else:
            counted = [dependent for dependent, _dependency, on_failure in links if on_failure]
            doomed = {dependent: dependency for dependent, dependency, on_failure in links if not on_failure}
            abandoned = _abandon(doomed, reason, using)
            if abandoned:
                frontier.setdefault("was cancelled", []).extend(abandoned)
        _count_down(counted, using)


def _count_down(dependents, using):
    """One dependency of each entry of ``dependents`` (locked) finished; an id repeated: as many."""
    if not dependents:
        return
    by_step: dict[int, list[int]] = {}
    for dependent, times in Counter(dependents).items():
        by_step.setdefault(times, []).append(dependent)
    waiting = Job.objects.using(using).filter(state=JobState.WAITING)
    for times, ids in sorted(by_step.items()):
        waiting.filter(pk__in=sorted(ids)).update(dependencies_left=F("dependencies_left") - times)
    move(UNBLOCK, waiting.filter(pk__in=set(dependents), dependencies_left=0))


def _abandon(doomed, reason, using):
    """Cancel the waiting (locked) jobs of ``doomed`` ({job id: the dependency that ended badly}); returns their ids."""
    if not doomed:
        return []
    ids = sorted(doomed)
    if not move(ABANDON, Job.objects.using(using).filter(pk__in=ids), **finishing()):
        return []
    JobRun.objects.using(using).bulk_create(
        [
            JobRun(
                job_id=pk,
                attempt=0,
                worker_id="",
                finished_at=Now(),
                outcome=RunOutcome.CANCELLED,
                exception_class_path=storable(_error(doomed[pk], reason).exception_class_path),
                message=storable(_error(doomed[pk], reason).message),
            )
            for pk in ids
        ]
    )
    return ids


def _error(dependency, reason):
    return ErrorInfo.without_traceback(DependencyFailed, f"dependency job {dependency} {reason}; not run")


def dependency_results(job_id, using):
    """The return values of the jobs ``job_id`` depends on, in the order of its ``depends_on``."""
    return list(
        Dependency.objects.using(using)
        .filter(dependent_id=job_id)
        .order_by("position")
        .values_list("dependency__return_value", flat=True)
    )


@dataclass(frozen=True)
class Neighbour:
    """A job another one waits for, or that waits for it, as operators see it."""

    id: int
    path: str
    state: str


def neighbours(job_id, using, *, limit=50):
    """
    ``(waits_for, waited_by, counts)``: up to ``limit`` jobs ``job_id`` waits
    for (in its ``depends_on`` order) and that wait for it (oldest first), as
    Neighbours, and how many there are of each (a fan-in may have thousands).
    """
    links = Dependency.objects.using(using)
    waits_for = links.filter(dependent_id=job_id).order_by("position")
    waited_by = links.filter(dependency_id=job_id).order_by("dependent_id")
    shown = (
        [
            Neighbour(*row)
            for row in waits_for.values_list("dependency_id", "dependency__func__path", "dependency__state")[:limit]
        ],
        [
            Neighbour(*row)
            for row in waited_by.values_list("dependent_id", "dependent__func__path", "dependent__state")[:limit]
        ],
    )
    counts = tuple(
        len(rows) if len(rows) < limit else query.count() for rows, query in zip(shown, (waits_for, waited_by))
    )
    return (*shown, counts)
