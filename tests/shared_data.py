"""Access to the real public data that lives in ``../shared`` beside the checkout.

The data is never copied into the project. Tests that need it call :func:`shared_path`, which
skips the test with a clear reason when the folder is absent (a checkout without ``../shared``).
"""

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("SAFECASE_SHARED_DIR", PROJECT_ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Return a path under ``../shared``; skip the calling test when it does not exist."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        missing = path.relative_to(SHARED_DIR)
        pytest.skip(f"real public data not available: {missing} is missing from ../shared")
    return path
