"""Making model and document text safe to post in Slack, and splitting it under Slack's limits.

Anything the model writes or a document contains is untrusted: `<!channel>` would
ping a whole channel, `<@U…>` would ping a person and `<https://evil|Policy>`
would disguise a link. Escaping `&`, `<` and `>` (Slack's only control characters
in mrkdwn) turns all of these into plain visible text.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from rag.answering.links import is_web_link

SECTION_LIMIT = 3000  # characters of text in one section block
_ENTITY_TAIL = re.compile(r"&[a-z]{0,4}$")

_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[*+-]\s+", re.MULTILINE)
_MD_LINK = re.compile(r"\[([^\]\n]{1,300})\]\((\S{1,2000}?)\)")
_MD_REF_DEF = re.compile(r"^(\s{0,3})\[([^\]\n]{1,300})\]:", re.MULTILINE)
# the start of a link that has not closed yet: `[label`, `[label]`, `[label](https://ev`
_PARTIAL_LINK = re.compile(r"\[[^\]\n]{0,300}(?:\](?:\(\S{0,2000})?)?\Z")
_LINK_WINDOW = 2400  # longest link _MD_LINK accepts, with room to spare
_TAIL_WORD = re.compile(r"\S{1,24}\Z")
_BROADCAST = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)


def escape(text: str) -> str:
    """Escape Slack's control characters so no mention, broadcast or link syntax survives."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def safe_text(text: str) -> str:
    """Untrusted text → inert mrkdwn: escaped, and `@here`-style words broken with a zero-width joiner."""
    return _BROADCAST.sub(lambda m: "@\u2060" + m.group(1), escape(text))


def neutralise_links(text: str) -> str:
    """Markdown links become `text (url)`, so a link can never hide its target; reference definitions
    (`[1]: https://…`, which would turn every `[1]` into a link) are broken up.

    The one rule for links, used for the streamed markdown and for the final mrkdwn alike.
    """
    text = _MD_LINK.sub(lambda m: m.group(1) if m.group(1) == m.group(2) else f"{m.group(1)} ({m.group(2)})",
                        text)
    return _MD_REF_DEF.sub(lambda m: f"{m.group(1)}[{m.group(2)}] :", text)


def stream_markdown(text: str) -> str:
    """Model text → the inert markdown streamed with chat.appendStream (same rules as the final message)."""
    return safe_text(neutralise_links(text))


def stream_cut(text: str) -> int:
    """How much of `text` can be streamed now: everything but an unfinished link or `@word` at its end.

    Slack renders the concatenated stream, so a link split across two appends would
    still be a link; holding it back until it closes lets `stream_markdown` see it whole.
    """
    cut = len(text)
    window = max(0, cut - _LINK_WINDOW)
    pos = text.find("[", window)
    while pos != -1:
        if _PARTIAL_LINK.match(text, pos):
            cut = pos
            break
        pos = text.find("[", pos + 1)
    tail = _TAIL_WORD.search(text, 0, cut)
    if tail and "@" in tail.group(0):  # `@here` must arrive whole for safe_text to defuse it
        cut = tail.start()
    return cut


def markdown_to_mrkdwn(text: str) -> str:
    """Convert the model's Markdown to Slack mrkdwn and neutralise it.

    Links become `text (url)` so the target is always visible; headings and
    `**bold**` become Slack bold; list markers become bullets.
    """
    text = neutralise_links(text)
    text = _HEADING.sub(lambda m: f"**{m.group(1)}**", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = safe_text(text)
    return _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)


def link(url: str, title: str) -> str:
    """`<url|title>` for web links, with both parts escaped; plain bold title otherwise."""
    label = safe_text(title).replace("|", "\u2758") or "document"
    if not is_web_link(url):
        return f"*{label}*"
    safe_url = quote(url, safe=":/?#[]@!$&'()*+,;=%~.-_")
    return f"<{escape(safe_url)}|{label}>"


def plain_from_slack(text: str, *, drop_user: str | None = None) -> str:
    """Turn a Slack message's text into plain text for the model: mentions and links readable."""
    if drop_user:
        text = re.sub(rf"<@{re.escape(drop_user)}(\|[^>]*)?>", " ", text)
    text = re.sub(r"<@([A-Z0-9]+)\|([^>]+)>", r"@\2", text)
    text = re.sub(r"<@([A-Z0-9]+)>", r"@user", text)
    text = re.sub(r"<#[A-Z0-9]+\|([^>]*)>", r"#\1", text)
    text = re.sub(r"<#[A-Z0-9]+>", "#channel", text)
    text = re.sub(r"<!(here|channel|everyone)[^>]*>", r"@\1", text)
    text = re.sub(r"<!subteam\^[A-Z0-9]+(\|([^>]*))?>", r"\2", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r"<((?:https?|mailto):[^>]+)>", r"\1", text)
    return re.sub(r"[ \t]+", " ", unescape(text)).strip()


def split_sections(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split escaped mrkdwn into pieces of at most `limit` chars, at paragraph, line, then word edges.

    Never cuts an `&amp;`-style entity in half, and keeps every character.
    """
    pieces: list[str] = []
    rest = text.strip("\n")
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), -1)
        if cut < limit // 3:
            cut = window.rfind("\n")
        if cut < limit // 3:
            cut = window.rfind(" ")
        if cut < limit // 3:
            cut = limit
        head = rest[:cut]
        tail = _ENTITY_TAIL.search(head)
        if tail and cut == limit:
            cut = tail.start()
            head = rest[:cut]
        pieces.append(head.rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces
