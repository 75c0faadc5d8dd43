"""Which citation links other people can open.

A document's link is DOCS_BASE_URL + its path when DOCS_BASE_URL is set, else a file:// URL
(rag.ingest.documents.loading.document_link). A file:// URL opens only on the machine that indexed the
file (in a container: a path inside the container), so Slack shows such sources without a link,
and says once per answer that no link is configured rather than letting the links silently vanish.
"""

from __future__ import annotations

from collections.abc import Iterable

WEB_SCHEMES = ("https://", "http://")


def is_web_link(link: str | None) -> bool:
    """True for http(s) links: the only ones a reader in Slack can open (and Slack will link)."""
    return bool(link) and str(link).strip().lower().startswith(WEB_SCHEMES)


def links_configured(links: Iterable[str | None]) -> bool:
    """Whether any of a message's source links can be opened by its readers."""
    return any(is_web_link(link) for link in links)
