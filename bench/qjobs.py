"""django-q2 runs plain functions by dotted path."""

from . import jobbodies


def noop():
    pass


def stamp(i):
    jobbodies.stamp(i)


def flaky(i):
    jobbodies.flaky(i)


def sleepy(i):
    jobbodies.sleepy(i)
