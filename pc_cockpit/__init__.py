"""Streamlit cockpit (page per file under `pages/`), talking only to the PC backend —
SPEC.md §1 steps 2–4. Not built yet: a later issue."""
