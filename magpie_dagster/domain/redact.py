"""Removes secrets from text before it reaches a log, an error column or asset metadata.

A server's error body may echo the request, `Authorization` header included; the configured key and any
bearer or authorization value are blanked wherever they appear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
# A credential after an auth scheme: 8+ token characters, so "the basic idea" stays prose.
_SCHEME_TOKEN = re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}")
_KEY_FIELD = re.compile(
    r"(?i)(\b(?:authorization|x-api-key|api[-_]?key)[\"']?\s*[:=]\s*[\"']?)(?!(?:bearer|basic)\b)[^\s\"',}]+"
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _SCHEME_TOKEN.sub(lambda match: match[1] + REDACTED, text)
    return _KEY_FIELD.sub(lambda match: match[1] + REDACTED, text)
