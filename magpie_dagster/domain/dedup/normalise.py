"""Text normalisation for exact-duplicate detection: the same request typed differently is the same request."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACE = re.compile(r"\s+")
_EDGE_PUNCTUATION = " \t\n\"'`*.,;:!?()[]{}<>-_"


def normalise_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed, punctuation and quotes trimmed at both ends."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", folded).strip(_EDGE_PUNCTUATION)


def text_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode()).hexdigest()[:32]
