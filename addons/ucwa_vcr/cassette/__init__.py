"""Cassettes: the model (no I/O), the YAML codec, the crash-safe writer."""
