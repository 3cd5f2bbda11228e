"""django_jobs benchmark against its peers: ``scripts/bench`` (see docs/performance.md)."""
