"""A library that quotes a secret, loaded into every process of a run (leaky_site/sitecustomize.py).

On the record with id "leak" it prints the value of BEAM_PREP_TEST_LEAKED_VALUE, logs it, writes it to
stderr and raises with it (a failure that becomes an internal_error reject, or fails the run with
--internal_errors fail). The variable's name is not secret-looking: beam_prep knows the value only
because the run was also given it as --s3_secret_access_key, so only by-value redaction catches it.
"""

from __future__ import annotations

import logging
import os
import sys

from beam_prep.pipeline import read

VALUE = os.environ.get("BEAM_PREP_TEST_LEAKED_VALUE", "")
_normalize = read.normalize


def _leaky_normalize(record, *args, **kwargs):
    if VALUE and isinstance(record.value, dict) and record.value.get("id") == "leak":
        print(f"debug: connecting with key {VALUE}")
        sys.stderr.write(f"warning: key {VALUE} is about to expire\n")
        logging.getLogger("some.library").warning("retrying with key %s", VALUE)
        raise RuntimeError(f"authentication failed for key {VALUE}")
    return _normalize(record, *args, **kwargs)


read.normalize = _leaky_normalize
