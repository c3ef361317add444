"""Loads tests/robustness/leaky_worker.py into every Python process of a test run that sets
BEAM_PREP_TEST_LEAKED_VALUE (the CLI and its worker processes, which the local runner starts itself and
gives no pipeline options, so --beam_plugins cannot reach them)."""

import os

if os.environ.get("BEAM_PREP_TEST_LEAKED_VALUE"):
    import tests.robustness.leaky_worker  # noqa: F401
