"""Thin HTTP handlers, one module per area; the logic lives in plain modules."""
