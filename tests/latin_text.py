"""The untranslated-text detector of the Korean tests (cockpit pages in the browser, the
`krx daily --lang ko` text): Latin-alphabet sentences outside a small, explicit allowlist."""

from __future__ import annotations

import re

# Latin words that may stand in Korean text: the product, tickers' brand, codes and units.
ALLOWED_WORDS = frozenset({
    "KRX", "Alertor", "KODEX", "TIGER", "KOSPI", "KOSDAQ", "ETF", "ETN", "OCI", "PC", "PULL",
    "PUSH", "HTS", "MTS", "DRY_RUN", "MANUAL", "LIVE", "ADX", "RSI", "SMA", "CAGR", "MDD",
    "KST", "CSV", "HTML", "IS", "OOS", "English", "What-if", "Chop", "ms", "sh", "CSAT",
    "exchange_calendars", "YYYY-MM-DD", "HH:MM",
})
# Streamlit's own words that must have been replaced (placeholder= etc.).
STREAMLIT_WORDS = ("Choose an option", "Select…", "No options to select", "Press Enter")
# Three or more Latin words in a row: a sentence, not a code.
SENTENCE = re.compile(r"[A-Za-z][\w'’/-]*(?:[ ,.:;]+[A-Za-z][\w'’/-]*){2,}")


def latin_sentences(text: str) -> list[str]:
    """Runs of three or more Latin words in `text` that are not all allowed words."""
    bad = []
    for m in SENTENCE.finditer(text):
        words = re.findall(r"[A-Za-z][\w'’/-]*", m.group(0))
        if any(w not in ALLOWED_WORDS and not re.fullmatch(r"[A-Z0-9_]+", w) for w in words):
            bad.append(m.group(0))
    return bad + [w for w in STREAMLIT_WORDS if w in text]
