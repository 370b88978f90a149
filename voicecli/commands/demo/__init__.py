"""Scripted demos: run a conversation written as TOML, check its answers, keep transcript, audio and
timings on disk (`voicecli demo`). Used for quick starts, regression checks and latency reports."""
