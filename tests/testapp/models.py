from django.db import models


class Execution(models.Model):
    """Written by test jobs, in the job's own transaction-less autocommit, to count real executions."""

    job_id = models.BigIntegerField()
    attempt = models.PositiveIntegerField()
    worker_id = models.CharField(max_length=100)
    label = models.CharField(max_length=100, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)
