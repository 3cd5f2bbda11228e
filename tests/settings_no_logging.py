"""The test settings without LOGGING: a site that configured no logging at all."""

from tests.settings import *  # noqa: F403

del LOGGING  # noqa: F821
