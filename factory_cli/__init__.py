"""The `factory` command: demo, simulate, edge, ingest, report, deadletter."""
