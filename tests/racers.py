"""Real concurrent workers for the race tests: threads, each with its own database connection,
released together from one barrier so the race is forced, not left to the scheduler's luck."""

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def run_together(action, count: int, start: threading.Barrier | None = None) -> list:
    """action(index) in ``count`` threads at once; their results in order. ``start`` may be shared
    with the test (to hold racers at a point of its choosing); by default one is made for them."""
    start = start or threading.Barrier(count, timeout=30)

    def worker(index):
        try:
            start.wait()
            return action(index)
        finally:
            connection.close()  # each thread's own connection, or the test database cannot be dropped

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))
