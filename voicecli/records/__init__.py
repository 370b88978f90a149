"""What is kept of a session: per-turn latency, the JSON event log, and the `--record` WAVs."""
