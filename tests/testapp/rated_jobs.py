"""Jobs under rate limits and fair queuing (kept apart from jobs.py, which others append to)."""

import django_jobs


@django_jobs.job(rate_limit="5/s")
def ping(i):
    return i


@django_jobs.job(rate_limit="2/m", rate_limit_key=lambda account: f"account:{account}")
def sync(account):
    return account


@django_jobs.job(fairness_key=lambda tenant, i: tenant)
def tenant_work(tenant, i):
    return i


@django_jobs.job
def plain(i):
    return i
