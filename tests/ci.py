"""What the suite requires where: in CI (CI=true) nothing may be skipped for a missing piece."""

import os

import pytest

IN_CI = os.getenv("CI", "").lower() == "true"


def missing(message: str) -> None:
    """A piece a test needs is not installed: skip it here, fail it in CI."""
    if IN_CI:
        pytest.fail(f"{message}: required in CI")
    pytest.skip(message)
