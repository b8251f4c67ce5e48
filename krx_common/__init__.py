"""Code both backends share (OCI and PC); imports nothing of oci_backend or pc_backend."""
