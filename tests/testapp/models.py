from django.db import models


class Execution(models.Model):
    """Written by test jobs, in the job's own transaction-less autocommit, to count real executions."""

    job_id = models.BigIntegerField()
    attempt = models.PositiveIntegerField()
    worker_id = models.CharField(max_length=100)
    label = models.CharField(max_length=100, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)


class Span(models.Model):
    """When a job ran (time.time() floats), to measure how many ran at once."""

    label = models.CharField(max_length=100)
    start = models.FloatField()
    end = models.FloatField()
