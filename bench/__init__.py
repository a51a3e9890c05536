"""Benchmarks for runway-console: run `.venv/bin/python -m bench` (see bench/README.md)."""
