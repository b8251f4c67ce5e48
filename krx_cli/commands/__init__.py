"""One module per top-level verb; each defines `register(subparsers)` and sets `handler`."""
