"""Ids derived from other ids (``plan:<intent>``, ``<call>:<tool>:<attempt>``), never too long.

Every event id is at most ``MAX_ID_LENGTH`` characters, and so is an intent id; an id made of an
intent id and a prefix would not fit. Derived ids therefore keep their readable head and replace
the tail by a hash of the whole when they would be too long: the same parts always give the same
id (redeliveries stay recognisable), and different parts give different ids.
"""

from __future__ import annotations

import hashlib

MAX_ID_LENGTH = 200
# 12 bytes of BLAKE2b: 96 bits, no collision among any number of ids this system will see.
_DIGEST_BYTES = 12


def derived_id(*parts: str) -> str:
    """``':'.join(parts)``, or its first characters plus ``~`` and a hash when that is too long."""
    joined = ":".join(parts)
    if len(joined) <= MAX_ID_LENGTH:
        return joined
    digest = hashlib.blake2b(joined.encode(), digest_size=_DIGEST_BYTES).hexdigest()
    return f"{joined[: MAX_ID_LENGTH - len(digest) - 1]}~{digest}"
