"""``python -m den_engine``: see den_engine.cli."""

import sys

from den_engine.cli import main

sys.exit(main())
