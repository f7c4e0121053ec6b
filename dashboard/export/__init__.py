"""Files that leave the dashboard: self-contained HTML pages (the Learn lesson, the run report)."""
