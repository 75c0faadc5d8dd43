"""Retrieval quality on public data (`python -m bench.quality.run`); see README.md here."""
