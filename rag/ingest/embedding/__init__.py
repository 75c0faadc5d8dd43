"""Embedding backends: torch (fp32, bf16 autocast) and ONNX Runtime (fp32), one interface.

`rag.ingest.embeddings` is the public entry point; this package holds the backends and the
one-time ONNX export so that asking a question needs neither torch nor transformers.
"""
