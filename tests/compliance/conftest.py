import pytest


@pytest.fixture
def engineer(members):
    """The project's engineer: edits the safety case, may not review."""
    return members["engineer"]
