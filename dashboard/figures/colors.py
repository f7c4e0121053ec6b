"""Older name of the visual language: everything here is re-exported from ``encoding``, its one owner."""

from dashboard.figures.encoding import *  # noqa: F403
from dashboard.figures.encoding import __all__  # noqa: F401
