import os
from pathlib import Path

import pytest

REAL_INPUTS = Path(__file__).resolve().parents[2].parent / "shared" / "real-inputs"


@pytest.fixture
def reading_inputs() -> Path:
    """The shared folder of real seller files (never copied into the project)."""
    if not REAL_INPUTS.is_dir():
        reason = f"the real input files are not in {REAL_INPUTS}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return REAL_INPUTS
