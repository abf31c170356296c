"""Keydrop's settings, with the bare baseline form's URLs added (bench/bare.py)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bare"
