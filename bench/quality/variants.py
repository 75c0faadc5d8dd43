"""Variant rows: the ablations of retrieval steps, and issue 10's changes as switches.

A `Change` is one change measured as "today's default" (all changes off, as before), each change
alone, and all together. A change that shapes chunks gets its own index (built once, cached); the
others are options of `rag.retrieval.retrieve.retrieve`. A change whose setting the code does not have yet is
skipped, so rows appear as the changes land. Cross-encoder reranking (RERANK_MODEL) has no row: no
cross-encoder weights can be loaded here (see README).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.quality import pipelines
from bench.quality.pipelines import OurIndex, OurProbe
from rag.config import RagSettings
from rag.ingest.readable import model_can_read
from rag.ops.evaluate import RankedChunk


@dataclass(frozen=True)
class Change:
    label: str
    off: dict[str, Any]  # settings (by field name) as before the change
    on: dict[str, Any]
    shapes_index: bool = False  # the index differs: built per combination
    retrieve_option: dict[str, str] = field(default_factory=dict)  # setting → `retrieve` keyword

    def available(self) -> bool:
        return all(f in RagSettings.model_fields for f in self.on)


CHANGES: tuple[Change, ...] = (
    Change("chunk sizing by what the model reads (CHUNK_SIZING=auto)", {"chunk_sizing": "tokens"},
           {"chunk_sizing": "auto"}, shapes_index=True),
    Change("near-duplicate passages grouped, named document wins (GROUP_DUPLICATES)",
           {"group_duplicates": False}, {"group_duplicates": True},
           retrieve_option={"group_duplicates": "group_duplicates"}),
)


@dataclass(frozen=True)
class Combination:
    label: str
    shaping: dict[str, Any]
    options: dict[str, Any]


def combinations(changes: Sequence[Change] | None = None) -> list[Combination]:
    """Today's default (all off), each change alone, all together (when more than one)."""
    changes = [c for c in (CHANGES if changes is None else changes) if c.available()]
    if not changes:
        return []

    def combo(label: str, chosen: set[int]) -> Combination:
        shaping: dict[str, Any] = {}
        options: dict[str, Any] = {}
        for i, c in enumerate(changes):
            values = c.on if i in chosen else c.off
            if c.shapes_index:
                shaping.update(values)
            else:
                options.update({c.retrieve_option.get(k, k): v for k, v in values.items()})
        return Combination(label, shaping, options)

    rows = [combo("change: today's default (issue-10 changes off)", set())]
    rows += [combo(f"change: {c.label} alone", {i}) for i, c in enumerate(changes)]
    if len(changes) > 1:
        rows.append(combo("change: all together", set(range(len(changes)))))
    return rows


def ablations(probes: Sequence[OurProbe], texts: Sequence[str], cap: int, caps: Sequence[int],
              raw_index: Callable[[], OurIndex], with_caps: bool) -> dict[str, list[list[RankedChunk]]]:
    """The step ablations on the default index (labels without the question-form suffix)."""
    ranked = pipelines.ranked_chunks
    rows: dict[str, list[list[RankedChunk]]] = {
        "ablation: RRF, CJK vector weight 0.15 (previous)": [
            ranked(pipelines.rrf(p.vector_hits, p.text_hits, 1.0 if model_can_read(t, False) else 0.15, 1.0), cap)
            for p, t in zip(probes, texts, strict=True)],
        "ablation: hybrid without the title boost": [
            ranked(pipelines.without_title_boost(p, t), cap) for p, t in zip(probes, texts, strict=True)],
    }
    for step in pipelines.STEPS:
        rows[f"ablation: hybrid {step}"] = [pipelines.shown(p.steps[step]) for p in probes]
    raw_idx = raw_index()
    rows["ablation: hybrid without text normalisation"] = [pipelines.shown(pipelines.search(raw_idx, t)) for t in texts]
    rows["ablation: previous default (no normalisation, no query analysis)"] = [
        pipelines.shown(pipelines.search(raw_idx, t, analyse_query=False)) for t in texts]
    if with_caps:
        for per_doc in caps:
            if per_doc != cap:
                rows[f"ablation: per-document cap {per_doc}"] = [ranked(p.fused, per_doc) for p in probes]
    return rows
