"""Bearer-token matching, shared by the OCI API's `BearerAuth` and the PC backend's guard."""

from __future__ import annotations

import hmac


def bearer_matches(authorization: bytes | None, token: bytes) -> bool:
    """True when the header is `Bearer <token>` (scheme case-insensitive), compared in
    constant time."""
    if not authorization:
        return False
    scheme, _, value = authorization.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(value.strip(), token)
