"""A paginator for job and log tables of millions of rows."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from .. import stats

#: Pages of a job list offered (of list_per_page jobs each).
MAX_PAGES = 100


class EstimatedCountPaginator(Paginator):
    """
    A paginator for millions of rows. On PostgreSQL its ``count`` is the
    planner's estimate, made exact below stats.EXACT_BELOW; ``exact`` says
    which (the pagination template writes "about"). Only the first
    ``max_pages`` pages are offered: a deeper page is an OFFSET that reads
    every row before it; filters and search reach the rest.
    """

    exact = True
    max_pages = MAX_PAGES

    @cached_property
    def count(self):
        count, self.exact = stats.estimated_count(self.object_list)
        return count

    @cached_property
    def num_pages(self):
        # Paginator's own figure; django-stubs types a cached_property read on its class as the bare function.
        return min(Paginator.num_pages.func(self), self.max_pages)  # type: ignore[attr-defined]

    @property
    def capped(self):
        return self.count > self.max_pages * self.per_page
