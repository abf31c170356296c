"""Argument types shared by Keydrop's commands: a bad value is refused by name, before anything runs."""

import argparse
import math


def time_budget(value: str) -> float:
    """A sweep's time budget in seconds: above zero (a sweep with no time sends nothing and says so)."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or math.isinf(seconds):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return seconds
