"""The `ucwa-vcr` command and the cassette tools: show, diff, lint, redact, import, export."""
