"""PC control plane backend (FastAPI on 127.0.0.1): proxy to OCI through the SSH tunnel and the
local workspace (PULL, PUSH, draft, submit) — SPEC.md §5–§6. Not built yet: a later issue."""
