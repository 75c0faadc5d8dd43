"""Section-aware chunking measured in the embedding model's tokens.

Blocks are grouped by heading path first, so a chunk never straddles two
sections and can always be cited by its section. Within a section, whole
paragraphs are packed up to the budget; a paragraph longer than the budget is
cut into token windows with overlap. The budget leaves room for the title and
heading path that are prepended before embedding, so nothing falls past the
model's `max_seq_length` (where it would be silently truncated and never found).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.documents import HEADING_SEPARATOR, Block, Document
from rag.textnorm import normalize

TokenOffsets = Callable[[str], list[tuple[int, int]]]
MIN_CHUNK_CHARS = 3
_SENTENCE_ENDS = frozenset(".!?;。！？；")  # below this a "chunk" is noise (a stray bullet, a page number)


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    rel_path: str
    ordinal: int
    text: str
    heading_path: tuple[str, ...]
    page_start: int | None
    page_end: int | None
    start: int  # character span in `Document.text`
    end: int
    embed_text: str  # what the model sees: title and section, then the text

    @property
    def section(self) -> str:
        return HEADING_SEPARATOR.join(self.heading_path)


def embed_text_for(title: str, heading_path: Sequence[str], text: str) -> str:
    """What the model embeds, in the normalised form questions are embedded in (rag.textnorm)."""
    header = title if not heading_path else f"{title}{HEADING_SEPARATOR}{HEADING_SEPARATOR.join(heading_path)}"
    return normalize(f"{header}\n{text}")


def chunk_document(
    doc: Document,
    token_offsets: TokenOffsets,
    *,
    max_tokens: int,
    overlap_tokens: int,
    model_max_tokens: int = 256,
) -> list[Chunk]:
    """Split `doc` into chunks of at most `max_tokens` tokens of body text each."""
    pieces: list[_Piece] = []
    for heading_path, blocks in _sections(doc.blocks):
        header_tokens = len(token_offsets(embed_text_for(doc.title, heading_path, "")))
        budget = max(16, min(max_tokens, model_max_tokens - header_tokens - 2))
        overlap = min(overlap_tokens, budget // 3)
        pieces.extend(_pack_section(blocks, heading_path, token_offsets, budget, overlap))
    chunks = []
    for piece in pieces:
        if len(piece.text.strip()) < MIN_CHUNK_CHARS:
            continue
        ordinal = len(chunks)
        embed_text = embed_text_for(doc.title, piece.heading_path, piece.text)
        digest = hashlib.sha256(f"{doc.rel_path}\0{ordinal}\0{embed_text}".encode()).hexdigest()[:24]
        chunks.append(Chunk(
            chunk_id=digest, rel_path=doc.rel_path, ordinal=ordinal, text=piece.text,
            heading_path=piece.heading_path, page_start=piece.page_start, page_end=piece.page_end,
            start=piece.start, end=piece.end, embed_text=embed_text,
        ))
    return chunks


@dataclass
class _Piece:
    text: str
    heading_path: tuple[str, ...]
    page_start: int | None
    page_end: int | None
    start: int
    end: int


def _sections(blocks: Sequence[Block]) -> list[tuple[tuple[str, ...], list[Block]]]:
    """Consecutive blocks under the same heading path."""
    sections: list[tuple[tuple[str, ...], list[Block]]] = []
    for block in blocks:
        if not block.text.strip():
            continue
        if sections and sections[-1][0] == block.heading_path:
            sections[-1][1].append(block)
        else:
            sections.append((block.heading_path, [block]))
    return sections


def _joiner(left: str, right: str) -> str:
    """Paragraph separator that does not put spaces into CJK text."""
    return "\n" if left and right else ""


def _pack_section(
    blocks: list[Block], heading_path: tuple[str, ...], token_offsets: TokenOffsets, budget: int, overlap: int,
) -> list[_Piece]:
    pieces: list[_Piece] = []
    current: list[tuple[Block, int]] = []  # (block, its token count)
    current_tokens = 0

    def flush() -> None:
        nonlocal current, current_tokens
        if current:
            pieces.append(_join(current, heading_path))
        # Carry the last paragraph over when it is short: it often introduces what follows.
        carry = current[-1:] if current and current[-1][1] <= overlap else []
        current = list(carry)
        current_tokens = sum(n for _, n in current)

    for block in blocks:
        offsets = token_offsets(block.text)
        n = len(offsets)
        if n > budget:
            if current:
                flush()
                current, current_tokens = [], 0
            pieces.extend(_windows(block, offsets, heading_path, budget, overlap))
            continue
        if current_tokens + n > budget and current:
            flush()
            if current_tokens + n > budget:
                current, current_tokens = [], 0
        current.append((block, n))
        current_tokens += n
    if current and not (len(current) == 1 and pieces and _is_carry(current[0][0], pieces[-1])):
        pieces.append(_join(current, heading_path))
    return pieces


def _is_carry(block: Block, last: _Piece) -> bool:
    """True when the only pending block was already the tail of the previous piece."""
    return block.end == last.end and block.start >= last.start


def _join(items: list[tuple[Block, int]], heading_path: tuple[str, ...]) -> _Piece:
    text = ""
    for block, _ in items:
        text = text + _joiner(text, block.text) + block.text
    pages = [b.page for b, _ in items if b.page is not None]
    return _Piece(
        text=text, heading_path=heading_path,
        page_start=min(pages) if pages else None, page_end=max(pages) if pages else None,
        start=min(b.start for b, _ in items), end=max(b.end for b, _ in items),
    )


def _windows(
    block: Block, offsets: list[tuple[int, int]], heading_path: tuple[str, ...], budget: int, overlap: int,
) -> list[_Piece]:
    """Token windows over one long paragraph, cut on token boundaries."""
    pieces = []
    first = 0
    while first < len(offsets):
        last = min(first + budget, len(offsets)) - 1
        if last + 1 < len(offsets):  # end on a sentence when one ends in the window's last third
            for i in range(last, first + (2 * budget) // 3, -1):
                if block.text[offsets[i][1] - 1:offsets[i][1]] in _SENTENCE_ENDS:
                    last = i
                    break
        cut_start = offsets[first][0]
        cut_end = offsets[last][1] if last + 1 >= len(offsets) else offsets[last + 1][0]
        text = block.text[cut_start:cut_end].strip()
        # Block offsets are into the document text; map the cut proportionally when text was normalised.
        span = block.end - block.start
        scale = span / max(1, len(block.text)) if span else 0
        pieces.append(_Piece(
            text=text, heading_path=heading_path, page_start=block.page, page_end=block.page,
            start=block.start + int(cut_start * scale), end=block.start + int(cut_end * scale),
        ))
        if last + 1 >= len(offsets):
            break
        first = max(first + 1, last + 1 - overlap)
    return pieces
