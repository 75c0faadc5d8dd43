"""One text normalisation for everything that is matched: indexed chunks and every question alike.

PDF extractors emit CJK compatibility ideographs (行 U+FA08 for 行, 更 U+F901 for 更) and documents
mix full-width and half-width forms (ＶＮＤ－２２, ，：？), so a normally typed 銀行 or VND-22 never
matched those chunks, and a question pasted from such a PDF never matched normal text. NFKC folds
all of these to one form; on top, typographic quotes and dashes are made plain, invisible
characters (zero-width spaces, soft hyphens, BOMs) dropped and runs of spaces collapsed.

It is applied only to what is *searched* (the full-text column, the text the model embeds, the
question, coverage and evidence matching), never to what is *shown*: NFKC is lossy for display
(m² → m2, ½ → 1⁄2), and a citation quotes the document as it is written.

`TEXT_NORMALIZATION` is recorded in the index; change it whenever `normalize` returns something
different, so an index built by the old rule is rebuilt by `ragbot sync --full`.
"""

from __future__ import annotations

import re
import unicodedata

TEXT_NORMALIZATION = "nfkc-1"

_TRANSLATE = str.maketrans({
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63", "-"),
    **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", None),
})
_SPACES = re.compile(r"[^\S\n]+")  # whitespace other than a line break (NFKC already made U+3000/NBSP spaces)


def normalize(text: str) -> str:
    """`text` in the form it is indexed and searched in (NFKC, plain quotes and dashes, single spaces)."""
    if text.isascii():  # nothing to fold; the common English case stays cheap
        return _SPACES.sub(" ", text)
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).translate(_TRANSLATE))
