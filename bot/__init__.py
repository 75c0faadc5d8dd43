"""The Slack side of ragbot: mentions answered in threads, /rag-sources, admin /rag-resync.

Depends on the RAG core only through `rag.service`.
"""
