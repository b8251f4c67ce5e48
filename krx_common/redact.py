"""Secrets in notification URLs, masked for everything a person or a log reads.

Apprise URLs carry credentials in varying places (`tgram://<bot token>/<chat id>`,
`mailto://user:password@host`, `discord://<id>/<token>`), so everything after the scheme is
replaced by a fingerprint: `tgram://***3f2a9c1b`. The fingerprint (a hash prefix) tells two
URLs apart and lets a masked URL sent back (a PULL edited and PUSHed) be matched to the stored
one (`unmask`), without revealing anything.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

MASK = "***"
_MASKED = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\*\*\*[0-9a-f]{8}$")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)


def is_masked(url: str) -> bool:
    return bool(_MASKED.match(url))


def mask_url(url: str) -> str:
    """`scheme://***<fingerprint>`; a masked URL is returned as it is."""
    if is_masked(url):
        return url
    match = _URL.match(url)
    scheme = match.group(1) if match else "secret"
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]
    return f"{scheme}://{MASK}{digest}"


def mask_urls(value: Any) -> Any:
    """Every string in `value` (a string, a list, nested lists) masked."""
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, list):
        return [mask_urls(v) for v in value]
    return value


def unmask(urls: list[str], stored: list[str]) -> tuple[list[str], list[int]]:
    """`urls` with each masked URL replaced by the stored URL it masks, and the indexes of
    masked URLs that match no stored one (the caller refuses those)."""
    by_mask = {mask_url(u): u for u in stored}
    out, unknown = [], []
    for i, url in enumerate(urls):
        if is_masked(url):
            if url in by_mask:
                out.append(by_mask[url])
            else:
                unknown.append(i)
                out.append(url)
        else:
            out.append(url)
    return out, unknown
