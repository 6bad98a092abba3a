"""Where the repository's test vectors are: $LB_TEST_DATA, or tests/data of this checkout."""
import os

import pytest

DATA = os.environ.get("LB_TEST_DATA") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "data")


@pytest.fixture
def data_dir():
    return DATA
