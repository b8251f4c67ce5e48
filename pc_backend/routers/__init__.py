"""Thin routers of the PC backend: validate, call `PcService`, answer (docs/pc-api.md)."""
