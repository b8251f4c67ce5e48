"""The API-token rule: what a bearer token of the OCI API or the PC backend must be."""

from __future__ import annotations

import re

MIN_TOKEN_LENGTH = 24
# Tokens copied from docs or templates: refused however long they are.
EXAMPLE_WORDS = ("example", "changeme", "change-me", "change_me", "placeholder", "your-token",
                 "your_token", "yourtoken", "<token>", "replace-me", "replace_me", "dummy")
TOKEN_CHARS = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: it travels in a header
GENERATE_HINT = "python -c \"import secrets; print(secrets.token_urlsafe(32))\""


def token_problem(token: str) -> str | None:
    """What is wrong with `token` (to follow "the token from <origin> "), None when usable."""
    if len(token) < MIN_TOKEN_LENGTH:
        return f"has {len(token)} characters; it needs at least {MIN_TOKEN_LENGTH}"
    lowered = token.lower()
    if any(word in lowered for word in EXAMPLE_WORDS):
        return f"looks like an example or placeholder; generate a real one with: {GENERATE_HINT}"
    if not TOKEN_CHARS.match(token):
        return ("must be printable ASCII without spaces (it is sent in the Authorization "
                "header)")
    return None
