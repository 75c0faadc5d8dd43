"""Each figure an answer states, checked against the source its sentence cites, about the same thing.

rag/answering/figures.py answers "does any source hold this figure?". That let two kinds of wrong answer through:
a figure copied from another document than the one cited (a planted file saying "USD 250" while the answer
cites the official policy; the other contract's late-payment interest), and a figure that exists somewhere in
the sources but not for what the sentence says. Here every sentence is checked against the sources it cites
(its markers, or the source rag/answering/attribution.py matched it to); a figure found only in a source the sentence
does not cite is flagged with that source's number, so the asker is told where it really came from.

What the bot itself put around each source (title, section, page, the "updated" date) is not the model's
claim: a figure that only restates that header is neither checked nor flagged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from rag.answering.figures import Figure, extract_figures, figure_supported


@dataclass(frozen=True)
class Claim:
    text: str  # one sentence of the answer, markers removed
    cites: tuple[int, ...] = ()  # the given sources (1-based) it cites or was matched to; () for none


@dataclass(frozen=True)
class FlaggedFigure:
    figure: Figure
    found_in: int | None = None  # a given source the sentence does not cite that holds it, if any
    claim: str = ""  # the sentence that states it


@dataclass(frozen=True)
class ClaimCheck:
    checked: int
    flagged: tuple[FlaggedFigure, ...]
    # per claim, in order: the sources (1-based) its figures were found in, cited ones first; () for none
    figure_sources: tuple[tuple[int, ...], ...] = ()


def check_claims(claims: Sequence[Claim], sources: Sequence[str], headers: Sequence[str] = ()) -> ClaimCheck:
    """Figures of `claims` that the sources they cite do not hold in a sentence about the same thing.

    `sources[i]` is source number i + 1 (its text); `headers` are the lines the bot wrote above the sources
    (their figures are excused: the model repeating "updated 2026-03-02" is quoting the bot, not a document).
    """
    per_source = [extract_figures(text, source=True) for text in sources]
    header_excuses = [_excused_by_header(h) for h in headers]
    checked = 0
    flagged: list[FlaggedFigure] = []
    found_in: list[tuple[int, ...]] = []
    for claim in claims:
        pool = [n for n in claim.cites if 1 <= n <= len(sources)] or list(range(1, len(sources) + 1))
        holders: list[int] = []
        for fig in extract_figures(claim.text):
            if any(header_excuses[n - 1](fig) for n in pool if n <= len(header_excuses)):
                continue
            checked += 1
            cited = [n for n in pool if figure_supported(fig, per_source[n - 1])]
            if cited and figure_supported(fig, [f for n in pool for f in per_source[n - 1]]):
                holders.extend(cited)
                continue
            elsewhere = next((n for n in range(1, len(sources) + 1) if n not in pool
                              and figure_supported(fig, per_source[n - 1])), None)
            flagged.append(FlaggedFigure(fig, elsewhere, claim.text))
            holders.extend([elsewhere] if elsewhere else [])
        found_in.append(tuple(dict.fromkeys(holders)))
    return ClaimCheck(checked=checked, flagged=tuple(flagged), figure_sources=tuple(found_in))


def _excused_by_header(header: str) -> Callable[[Figure], bool]:
    """Whether a figure only restates this header: its dates (and their year, month and day) whatever the unit,
    its other numbers (section "5.2", page 3) only as a bare number, so "5 days" is never excused by section 5."""
    figures = extract_figures(header, source=True)
    dates = {f.value for f in figures if isinstance(f.value, date | str)}
    dates |= {float(d.year) for d in dates if isinstance(d, date)}
    numbers = {f.value for f in figures}
    return lambda fig: fig.value in dates or (fig.unit is None and fig.value in numbers)
