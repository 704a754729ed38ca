"""Shared test set-up: every test starts from the same random state."""
import numpy as np
import pytest

import tinycnn


@pytest.fixture(autouse=True)
def _reseed():
    """Reseed tinycnn's generator and NumPy's legacy global one before each test."""
    tinycnn.manual_seed(0)
    np.random.seed(0)
