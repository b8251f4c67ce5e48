"""The broker adapter: one protocol (`broker.protocol.Broker`) and its KIS Open API
implementation (`broker.kis`). Below `oci_backend`, above `strategy`; no HTTP framework here
(the client speaks HTTP through httpx). The PC never imports this package: credentials live on
OCI only."""
