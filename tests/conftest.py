"""Shared test setup.

Tests that need a system package (a browser, a database server) call
:func:`require_system`: locally they skip with a message saying what to install;
with ``LRLAB_STRICT_SYSTEM=1`` (set by ``.ci/run``) the skip becomes a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def require_system(binary: str, install_hint: str) -> str:
    """Return the path of ``binary`` or skip (fail under ``LRLAB_STRICT_SYSTEM=1``) with ``install_hint``."""
    path = shutil.which(binary)
    if path:
        return path
    message = f"{binary} is not installed; install it with: {install_hint}"
    if os.environ.get("LRLAB_STRICT_SYSTEM") == "1":
        pytest.fail(message + " (LRLAB_STRICT_SYSTEM=1 makes this a failure)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO
