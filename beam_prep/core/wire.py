"""Values that cross a shuffle, packed into bytes (pipeline/shuffle.py GroupPacked).

The local runner (FnApiRunner) keeps every value of a GroupByKey in its own process, decoded into
Python objects, until the group is read, and a Python object of a few strings weighs about four
times its pickled size. A value packed into bytes is kept as those bytes: a Part of a split
conversation as a compressed pickle (about half its pickled size on chat text), an ExampleKey as a
plain pickle of its tuple of values (mostly digests; a named type would add its class's name to
every value). Values are packed right before the shuffle and unpacked right after it, in the
worker; nothing else sees the bytes. Pickle is safe here: the bytes are written and read by the
same job's code.
"""

from __future__ import annotations

import pickle
import zlib

_PROTOCOL = 5
_LEVEL = 1  # zlib's fastest level: most of the gain, a small share of the CPU of level 6


def pack(value, compress: bool = False) -> bytes:
    """`value` as bytes; `compress` for values with text in them."""
    data = pickle.dumps(value, protocol=_PROTOCOL)
    return zlib.compress(data, _LEVEL) if compress else data


def unpack(data: bytes, compress: bool = False):
    """The value `pack(value, compress)` made."""
    return pickle.loads(zlib.decompress(data) if compress else data)
