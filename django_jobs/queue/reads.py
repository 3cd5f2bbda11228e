"""Reading jobs, their attempts and logs, and the queues' state."""

from collections.abc import Iterable

from ..exceptions import JobNotFound
from ..models import Job, JobLog, JobRun, QueueState
from ..states import RunOutcome


def get_job(job_id: int | str, *, using: str) -> Job:
    """The Job with id ``job_id`` (its function joined), or JobNotFound."""
    try:
        return Job.objects.using(using).select_related("func").get(pk=int(job_id))
    except (Job.DoesNotExist, ValueError, TypeError):
        raise JobNotFound(f"No job with id {job_id!r}.") from None


def metadata(job_id: int, *, using: str) -> dict:
    """What the job last saved with ``context.save_metadata()`` (``{}``: nothing yet)."""
    return Job.objects.using(using).filter(pk=job_id).values_list("metadata", flat=True).first() or {}


def failures(job_id: int | str, *, using: str) -> list[JobRun]:
    """The job's failure log: its failed, lost and cancelled attempts, oldest first."""
    job = get_job(job_id, using=using)
    return list(
        JobRun.objects.using(using)
        .filter(job=job, outcome__in=[RunOutcome.FAILED, RunOutcome.LOST, RunOutcome.CANCELLED])
        .order_by("attempt")
    )


def logs(job_id: int | str, *, attempt: int | None = None, using: str) -> list[JobLog]:
    """What the job logged, for one attempt or all, in order."""
    job = get_job(job_id, using=using)
    lines = JobLog.objects.using(using).filter(run__job=job).select_related("run")
    if attempt is not None:
        lines = lines.filter(run__attempt=attempt)
    return list(lines.order_by("run__attempt", "id"))


def runs(job_id: int | str, *, using: str) -> list[JobRun]:
    """The job's attempts (JobRuns), oldest first."""
    return list(JobRun.objects.using(using).filter(job_id=job_id).order_by("attempt"))


def paused_queues(*, using: str) -> set[str]:
    """Names of the paused queues."""
    return set(QueueState.objects.using(using).filter(paused=True).values_list("name", flat=True))


def list_jobs(
    *,
    using: str,
    queue_name: str | None = None,
    states: Iterable[str] | None = None,
    page: int = 1,
    per_page: int = 50,
) -> list[Job]:
    """
    A page of jobs, newest first, with their functions. Keyset-friendly
    callers should filter by id instead of paging deep.
    """
    if page < 1 or not 1 <= per_page <= 1000:
        raise ValueError("page must be >= 1 and per_page between 1 and 1000.")
    jobs = Job.objects.using(using).select_related("func").order_by("-id")
    if queue_name is not None:
        jobs = jobs.filter(queue_name=queue_name)
    if states:
        jobs = jobs.filter(state__in=list(states))
    start = (page - 1) * per_page
    return list(jobs[start : start + per_page])
