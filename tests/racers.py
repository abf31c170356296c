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


def while_the_first_is_held(fake, ask, count: int, *, settle: float = 0.5) -> None:
    """ask() in ``count`` threads, the first held inside the fake Canvas (its ``hold_first``) until
    the others have started and are still waiting behind it; then Canvas answers. This forces the
    overlap that a lock or a claim must order, instead of hoping the threads happen to meet."""
    fake.hold_first = True
    first = threading.Thread(target=ask)
    first.start()
    assert fake.holding.wait(30), "the first never reached Canvas"
    others = [threading.Thread(target=ask) for _ in range(count - 1)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(settle)
    assert all(thread.is_alive() for thread in others), "one got an answer while Canvas was being asked"
    fake.release.set()
    for thread in [first, *others]:
        thread.join(60)
