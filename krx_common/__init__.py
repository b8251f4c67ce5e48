"""The shared base of both planes (`oci_backend`, `pc_backend`), the cockpit and the CLI.

The bottom layer: it imports no project package (`contracts` builds on it, not the other way
round). One module per concern: `defaults` (ports, KST, the daily schedule, colours), `atomic`
(durable atomic file writes and validated reads), `docpath` (field paths of JSON documents and
their diff), `http_errors` (the one HTTP error shape and its handlers), `http_limits` (the
request-head cap and timeout, the connection cap, the body limit and strict JSON both servers
apply), `auth` (bearer matching), `tokens` (the API-token rule), `oci_http` (the generic part of
every OCI API client) and `procs` (process supervision: spawn, health wait, free port, PID
files).
"""
