"""Training outside the web server: a bounded pool of worker processes behind a queue that is fair across sessions.

``queue`` orders the waiting jobs (round robin over browser sessions, one running unit per
session); ``units`` is what a worker runs (one task of a Train run, one task of a Learn
pair, one run of a sweep); ``process`` starts local worker processes and ``ray_slots``
actors on a Ray cluster; ``pool`` ties them together and is the only module the pages'
session objects talk to.
"""
