"""Section-aware chunking sized for what will read each section: the model, or only full-text search.

Blocks are grouped by heading path first, so a chunk never straddles two
sections and can always be cited by its section. Within a section, whole
paragraphs are packed up to the budget; a paragraph longer than the budget is
cut into windows with overlap, ending on a sentence where one ends near the cut.

The budget follows who can use the text (`Sizing`, CHUNK_SIZING). Where the
embedding model reads the section's script, the budget is in the model's
tokens and leaves room for the title and heading path prepended before
embedding, so nothing falls past `max_seq_length` (where it would be silently
truncated and never found). Where it cannot (an English-only model on Chinese:
`rag.ingest.readable`, one token per character, and only a tie-breaking vote on CJK
questions), 180 tokens are 180 characters: four times the chunks and the
embedding work of a 1000-character splitter, for a vote that barely counts.
Such sections are sized in characters for full-text search and the reader
(CHUNK_CHARS, overlap in the same proportion as the tokens'), and what is
embedded is cut on purpose at the model's window, recorded in the chunk id.
`Sizing.signature` is recorded with the index: a changed setting re-chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rag.ingest.documents import HEADING_SEPARATOR, Block, Document
from rag.ingest.readable import model_can_read
from rag.language.textnorm import normalize

TokenOffsets = Callable[[str], list[tuple[int, int]]]
CHUNKING_VERSION = "2"  # change whenever the same settings cut chunks differently: recorded, so it re-chunks
MIN_CHUNK_CHARS = 3
_SENTENCE_ENDS = frozenset(".!?;。！？；")  # below this a "chunk" is noise (a stray bullet, a page number)


class TooManyChunks(ValueError):
    """A document cut into more chunks than allowed (MAX_DOC_CHUNKS): a repeated-text file must not cost hours."""

    def __init__(self, count: int) -> None:
        super().__init__(f"at least {count} chunks")
        self.count = count


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
    """What the model embeds, in the normalised form questions are embedded in (rag.language.textnorm)."""
    header = title if not heading_path else f"{title}{HEADING_SEPARATOR}{HEADING_SEPARATOR.join(heading_path)}"
    return normalize(f"{header}\n{text}")


@dataclass(frozen=True)
class Sizing:
    """How big chunks are (CHUNK_SIZING, CHUNK_TOKENS, CHUNK_OVERLAP_TOKENS, CHUNK_CHARS)."""

    tokens: int = 180
    overlap_tokens: int = 30
    chars: int | None = None  # sections the model cannot read: this many characters; None: tokens everywhere
    overlap_chars: int = 0
    multilingual_model: bool = False

    @classmethod
    def from_settings(cls, settings: Any, *, multilingual_model: bool) -> Sizing:
        chars = settings.chunk_chars if settings.chunk_sizing == "auto" else None
        return cls(
            tokens=settings.chunk_tokens, overlap_tokens=settings.chunk_overlap_tokens, chars=chars,
            overlap_chars=round(chars * settings.chunk_overlap_tokens / settings.chunk_tokens) if chars else 0,
            multilingual_model=multilingual_model,
        )

    def in_chars(self, text: str) -> bool:
        """Whether a section of this text is sized in characters (the model cannot read it)."""
        return self.chars is not None and not model_can_read(text, self.multilingual_model)

    @property
    def signature(self) -> str:
        """What the index records: equal signatures cut the same documents into the same chunks."""
        tokens = f"chunking {CHUNKING_VERSION}: tokens {self.tokens}/{self.overlap_tokens}"
        if self.chars is None or self.multilingual_model:  # a multilingual model reads every section
            return tokens
        return f"{tokens}, text the model cannot read (CJK) in characters {self.chars}/{self.overlap_chars}"


def chunk_document(
    doc: Document,
    token_offsets: TokenOffsets,
    sizing: Sizing | None = None,
    *,
    max_tokens: int = 180,
    overlap_tokens: int = 30,
    model_max_tokens: int = 256,
    max_chunks: int | None = None,
) -> list[Chunk]:
    """Split `doc` into chunks sized by `sizing` (default: `max_tokens`/`overlap_tokens` everywhere).

    Raises `TooManyChunks` as soon as a document passes `max_chunks` (checked after each section)."""
    sizing = sizing or Sizing(max_tokens, overlap_tokens)
    pieces: list[tuple[_Piece, bool]] = []  # (piece, sized in characters)
    for heading_path, blocks in _sections(doc.blocks):
        header_tokens = len(token_offsets(embed_text_for(doc.title, heading_path, "")))
        if sizing.in_chars("\n".join(b.text for b in blocks)):
            assert sizing.chars is not None
            budget, overlap, units = sizing.chars, min(sizing.overlap_chars, sizing.chars // 3), _char_offsets
        else:
            budget = max(16, min(sizing.tokens, model_max_tokens - header_tokens - 2))
            overlap, units = min(sizing.overlap_tokens, budget // 3), token_offsets
        pieces.extend((p, units is _char_offsets) for p in _pack_section(blocks, heading_path, units, budget, overlap))
        if max_chunks is not None and len(pieces) > max_chunks:
            raise TooManyChunks(len(pieces))
    chunks = []
    for piece, in_chars in pieces:
        if len(piece.text.strip()) < MIN_CHUNK_CHARS:
            continue
        ordinal = len(chunks)
        embed_text = embed_text_for(doc.title, piece.heading_path, piece.text)
        key = f"{doc.rel_path}\0{ordinal}\0{embed_text}"
        if in_chars:
            embed_text = fit_to_model(embed_text, token_offsets, model_max_tokens - 2)
            key = f"{doc.rel_path}\0{ordinal}\0{embed_text}\0{piece.text}"  # the text past the cut counts too
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        chunks.append(Chunk(
            chunk_id=digest, rel_path=doc.rel_path, ordinal=ordinal, text=piece.text,
            heading_path=piece.heading_path, page_start=piece.page_start, page_end=piece.page_end,
            start=piece.start, end=piece.end, embed_text=embed_text,
        ))
    return chunks


def fit_to_model(text: str, token_offsets: TokenOffsets, limit: int) -> str:
    """`text` cut after its first `limit` model tokens (on a token boundary), so what the model would
    drop silently is dropped here, visibly, and the embedding cache keys what was really embedded."""
    offsets = token_offsets(text)
    while len(offsets) > limit:
        text = text[:offsets[limit - 1][1]].rstrip()
        offsets = token_offsets(text)
    return text


def _char_offsets(text: str) -> list[tuple[int, int]]:
    """Characters as the unit: each character's span."""
    return [(i, i + 1) for i in range(len(text))]


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
    """Whole paragraphs packed up to `budget` units (`token_offsets` defines the unit: tokens or characters)."""
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
    """Windows over one long paragraph, cut on unit (token or character) boundaries."""
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
