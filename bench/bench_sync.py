"""Incremental sync at 10,000 files: no-op vs full ingest, one changed file, disk growth and compaction.

All sides run in this one process, one after the other, on the same files, so
the ratios are fair on a noisy machine. Targets: a no-op sync of 10,000
unchanged files under 2 s and at least 100x faster than a full ingest; one
changed file costs about that file's parse + embed, not the corpus's; disk
growth after 100 small syncs is bounded by compaction.
The corpus is tiny one-chunk files (a 2-core machine embeds ~27 full-size
chunks/s, so 10,000 multi-chunk files would take hours to ingest); the changed
file is a normal multi-section document.
Run: `python bench/bench_sync.py [--files 10000] [--syncs 100] [--out bench/results/sync.txt]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LANCE_LOG", "error")
warnings.filterwarnings("ignore", message=r"optimize\(cleanup_older_than=0\)")  # nobody else reads this index

from rag.config import load_settings  # noqa: E402
from rag.ingest.chunking import chunk_document  # noqa: E402
from rag.ingest.documents import load_document  # noqa: E402
from rag.service import RagService  # noqa: E402

TOPICS = ["badge", "laptop", "invoice", "parking", "visitor", "printer", "locker", "travel", "training", "key"]


def write_corpus(docs: Path, files: int) -> None:
    for i in range(files):
        folder = docs / f"team-{i % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        topic = TOPICS[i % len(TOPICS)]
        (folder / f"note-{i:05d}.md").write_text(
            f"# Note {i}\n\nThe {topic} code for desk {i} is {topic[:2].upper()}-{(i * 7919) % 100000:05d}; "
            f"ask the {topic} coordinator of team {i % 100} for changes.\n",
            encoding="utf-8",
        )


def big_document(version: int) -> str:
    """A normal SOP: eight sections of a few paragraphs (several chunks)."""
    parts = [f"# Warehouse returns procedure (revision {version})", ""]
    for s in range(1, 9):
        parts += [f"## {s}. Step {s}", ""]
        for p in range(3):
            parts.append(f"Step {s} paragraph {p}: returned goods are inspected within {s + p} working days, "
                         f"logged in the returns register, photographed on arrival and either restocked, "
                         f"repaired or written off by the shift lead of revision {version}.")
            parts.append("")
    return "\n".join(parts)


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def bump(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--syncs", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if args.syncs >= args.files:
        parser.error("--syncs must be smaller than --files")
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        docs = work / "docs"
        write_corpus(docs, args.files)
        settings = load_settings(docs_dir=docs, lancedb_uri=str(work / "index"), ollama_host="http://127.0.0.1:9",
                                 keep_versions_hours=0)
        svc = RagService(settings)
        svc.embedder.encode(["warm up"] * 8)
        say(f"bench_sync: {args.files} one-chunk .md files in 100 folders; {os.cpu_count()} CPUs, "
            f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}")

        # 1. Full ingest vs no-op sync of the same files.
        t_full, full = timed(lambda: svc.sync(full=True))
        assert full.status == "ok", full
        noops = []
        for _ in range(3):
            t, report = timed(svc.sync)
            assert report.unchanged == args.files and not report.has_changes, report
            noops.append(t)
        t_noop = statistics.median(noops)
        say(f"full ingest          : {t_full:8.2f} s  ({full.chunks_embedded} chunks embedded, "
            f"{args.files / t_full:.0f} files/s)")
        say(f"no-op sync (median/3): {t_noop:8.3f} s  (runs: {', '.join(f'{t:.3f}' for t in noops)})")
        say(f"  -> no-op is {t_full / t_noop:.0f}x faster than a full ingest "
            f"(target >= 100x, < 2 s: {'met' if t_noop < 2 and t_full / t_noop >= 100 else 'NOT met'})")

        # 2. One changed file among all: compare with parsing + embedding that file alone.
        last = args.files - 1  # the small syncs below edit the first files
        changed_rel = f"team-{last % 100:03d}/note-{last:05d}.md"
        changed = docs / changed_rel
        bump(changed, big_document(1))
        t_one, one = timed(svc.sync)
        assert one.changed == [changed_rel], one
        embedder = svc.embedder

        def parse_and_embed() -> int:
            doc = load_document(changed, docs)
            chunks = chunk_document(doc, embedder.token_offsets, max_tokens=settings.chunk_tokens,
                                    overlap_tokens=settings.chunk_overlap_tokens,
                                    model_max_tokens=embedder.max_seq_length)
            embedder.encode([c.embed_text for c in chunks], batch_size=settings.embedding_batch_size)
            return len(chunks)

        t_alone = statistics.median(timed(parse_and_embed)[0] for _ in range(3))
        say(f"one changed file     : {t_one:8.3f} s  ({one.chunks_embedded} chunks embedded, "
            f"{one.chunks_reused} reused)")
        say(f"  that file's parse + embed alone: {t_alone:.3f} s; no-op scan: {t_noop:.3f} s; "
            f"the rest (index write, full-text refresh, records): {max(0.0, t_one - t_alone - t_noop):.3f} s")
        say(f"  -> one changed file costs {t_one / t_alone:.1f}x its own parse + embed, "
            f"{t_one / t_full * 100:.2f}% of a full ingest")
        bump(changed, big_document(1).replace("Step 3 paragraph 1", "Step 3 paragraph one"))
        t_edit, edit = timed(svc.sync)
        say(f"one section edited   : {t_edit:8.3f} s  ({edit.chunks_embedded} chunk embedded, "
            f"{edit.chunks_reused} reused)")

        # 3. Disk growth over many small syncs, then compaction.
        index = Path(settings.lancedb_uri)
        before = dir_mb(index)
        versions_before = len(svc.store.table().list_versions())
        started = time.perf_counter()
        for n in range(args.syncs):
            bump(docs / f"team-{n % 100:03d}" / f"note-{n:05d}.md", f"# Note {n}\n\nRevised note {n}, take {n}.\n")
            report = svc.sync()
            assert report.changed == [f"team-{n % 100:03d}/note-{n:05d}.md"], report
        t_many = time.perf_counter() - started
        after = dir_mb(index)
        versions_after = len(svc.store.table().list_versions())
        t_compact, _ = timed(svc.compact)
        compacted = dir_mb(index)
        say(f"{args.syncs} small syncs       : {t_many:8.2f} s  ({t_many / args.syncs:.3f} s each)")
        say(f"index on disk        : {before:8.1f} MB before, {after:.1f} MB after {args.syncs} syncs "
            f"({versions_before} -> {versions_after} versions), {compacted:.1f} MB after compact "
            f"({t_compact:.2f} s, KEEP_VERSIONS_HOURS=0)")
        say(f"  -> growth {after - before:+.1f} MB without compaction, {compacted - before:+.1f} MB with it")
        top = svc.search("Within how many days are returned goods inspected?").hits[0].row
        assert top["doc_path"] == changed_rel, top  # the compacted index still answers
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
