"""Learning methods: the registry (DEN and its ablations) and the baselines, which register themselves.

Import names from here (``from den_engine.methods import get_method``): this package imports
the baselines, so the registry is complete whichever module asks first.
"""

from den_engine.methods import baselines  # noqa: F401  (registers the baselines)
from den_engine.methods.registry import METHODS, Method, get_method, method_names, register
from den_engine.methods.user import load_plugin, register_method

__all__ = ["METHODS", "Method", "get_method", "load_plugin", "method_names", "register", "register_method"]
