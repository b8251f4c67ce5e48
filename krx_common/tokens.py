"""The API-token rule: what a bearer token of the OCI API or the PC backend must be, and how
the file holding one is read."""

from __future__ import annotations

import math
import os
import re
import stat
from collections import Counter
from pathlib import Path

MIN_TOKEN_LENGTH = 24
# The entropy a token must carry, as estimated by `token_bits` (a floor well below what any
# generated token shows: 24 random hex characters estimate at 65 bits or more, 24 urlsafe ones
# at 85, `secrets.token_urlsafe(32)` at about 200).
MIN_TOKEN_BITS = 48
# Tokens copied from docs or templates: refused however long they are.
EXAMPLE_WORDS = ("example", "changeme", "change-me", "change_me", "placeholder", "your-token",
                 "your_token", "yourtoken", "<token>", "replace-me", "replace_me", "dummy")
TOKEN_CHARS = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: it travels in a header
GENERATE_HINT = "python -c \"import secrets; print(secrets.token_urlsafe(32))\""


def token_bits(token: str) -> float:
    """An estimate of the entropy of `token` in bits: the Shannon entropy of its characters
    times its length, where a token that repeats a shorter unit (`abcabc...`) counts only
    that unit. Low for one repeated character, few distinct ones, or a repeated word."""
    unit = token
    for period in range(1, len(token) // 2 + 1):
        if (token[:period] * (len(token) // period + 1))[:len(token)] == token:
            unit = token[:period]
            break
    counts = Counter(unit)
    n = len(unit)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0
    return max(0.0, per_char * n)


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
    bits = token_bits(token)
    if bits < MIN_TOKEN_BITS:
        return (f"is too easy to guess (about {bits:.0f} bits of entropy, it needs "
                f"{MIN_TOKEN_BITS}: a repeated character or word, or too few distinct "
                f"characters); generate a real one with: {GENERATE_HINT}")
    return None


class SecretFileError(ValueError):
    """A token file that is missing, not a regular file, or readable by others."""


def read_secret_file(path: Path, label: str) -> str:
    """The stripped content of a token file; `SecretFileError` (naming `label` and `path`)
    when it is missing, not a regular file, or open to group/others on POSIX (Windows ACLs
    are out of scope)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SecretFileError(f"{label} {path} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise SecretFileError(f"{label} {path} is not a regular file")
    if os.name == "posix" and st.st_mode & 0o077:
        raise SecretFileError(
            f"{label} {path} has mode {stat.S_IMODE(st.st_mode):04o}: it is readable or "
            f"writable by group/others; run: chmod 600 {path}")
    return path.read_text(encoding="utf-8").strip()
