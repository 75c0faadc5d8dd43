"""What a sync will do: compare the folder's stats with the state DB's records."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.config import RagSettings
from rag.index.state import FileRecord
from rag.ingest.sync.roots import MASS_DELETE_OPTION, option_hint
from rag.ingest.sync.scan import FileStat, SyncRefused, sha256_file


@dataclass
class SyncPlan:
    """What a sync would do; a dry run prints it and stops."""

    to_index: list[FileStat] = field(default_factory=list)  # added or changed
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    touched: list[FileStat] = field(default_factory=list)  # same bytes, new stat or path: record-only change
    rebuilt: set[str] = field(default_factory=set)  # --full: same bytes re-read; "changed" only if the result is
    unchanged: int = 0
    mass_delete_blocked: bool = False
    # Skipped (over a limit) or quarantined files whose bytes did not change: not read; (path, reason)
    held: list[tuple[str, str]] = field(default_factory=list)
    held_touched: list[FileStat] = field(default_factory=list)  # ...of which a new stat for the same bytes
    held_back: list[str] = field(default_factory=list)  # pinned by a rollback, the file still as the undone sync saw it
    pin_touched: list[FileStat] = field(default_factory=list)  # ...of which a new stat for the same bytes


def make_plan(settings: RagSettings, stats: list[FileStat], records: dict[str, FileRecord], *, full: bool,
              allow_mass_delete: bool, switching: bool = False, trigger: str = "manual") -> SyncPlan:
    """Only files whose size or mtime changed are hashed; same bytes under a new path is a rename.

    A file that failed to parse is retried (and reported) at every sync; one skipped over a limit or
    quarantined is not read again until its bytes change; one a rollback pinned is held back while the
    file is as the undone sync saw it (all three even with `full`).

    `switching` (to another docs root) lifts the mass-delete guard, not the empty-folder one.
    """
    plan = SyncPlan()
    if not stats and records and not allow_mass_delete:
        raise SyncRefused(
            f"docs folder {settings.docs_dir} is empty but {len(records)} documents are indexed "
            f"(an unmounted share?); nothing was deleted. If the folder really is meant to be empty, "
            f"{option_hint(trigger, MASS_DELETE_OPTION)}."
        )
    on_disk = {s.rel_path for s in stats}
    missing = {p: r for p, r in records.items() if p not in on_disk}
    missing_by_sha = {r.sha256: p for p, r in missing.items() if r.sha256}
    for st in stats:
        rec = records.get(st.rel_path)
        same_stat = rec is not None and rec.size == st.size and rec.mtime_ns == st.mtime_ns
        if rec and rec.held_back is not None and same_stat:
            plan.held_back.append(st.rel_path)  # even with --full: a rollback's pin holds until the file changes
            continue
        if rec and rec.held_until_changed and (rec.error_size, rec.error_mtime_ns) == (st.size, st.mtime_ns):
            plan.held.append((st.rel_path, rec.last_error or ""))  # over a limit, or quarantined: not read again
            continue
        if rec and not full and same_stat and not rec.failing:
            plan.unchanged += 1
            continue
        try:  # a failed file is retried at every sync: it is never "up to date" until it is indexed
            st.sha256 = sha256_file(settings.docs_dir, st.rel_path)
        except OSError:  # gone, unreadable or swapped for a link since the scan: the read says which
            st.sha256 = None
        if rec and rec.held_until_changed and st.sha256 and st.sha256 == rec.error_sha256:
            plan.held.append((st.rel_path, rec.last_error or ""))  # touched, same bytes
            plan.held_touched.append(st)
            continue
        if rec and rec.held_back is not None and st.sha256 and st.sha256 == rec.held_sha256:
            plan.held_back.append(st.rel_path)  # touched, still the bytes the rollback held back
            plan.pin_touched.append(st)
            continue
        indexed = rec is not None and bool(rec.chunk_ids or rec.withdrawn)  # a version is indexed (or withdrawn)
        if rec and indexed and st.sha256 and rec.sha256 == st.sha256 and (not full or rec.withdrawn):
            plan.touched.append(st)  # same bytes: a touch, a withdrawn file that did not change, a file fixed back
            plan.unchanged += 1
        elif rec is None and not full and st.sha256 and st.sha256 in missing_by_sha:
            old = missing_by_sha.pop(st.sha256)
            del missing[old]
            plan.renamed.append((old, st.rel_path))
            plan.touched.append(st)
        else:
            plan.to_index.append(st)
            if indexed and rec is not None and rec.sha256 == st.sha256 and not rec.last_error:
                plan.rebuilt.add(st.rel_path)  # reported as changed only if re-reading changes something
            else:
                (plan.changed if indexed else plan.added).append(st.rel_path)
    plan.removed = sorted(missing)
    threshold = settings.mass_delete_fraction * max(1, len(records))
    too_many = (len(records) >= 4 and len(plan.removed) > threshold) or (plan.removed and not stats)
    if too_many and not allow_mass_delete and not switching:
        plan.mass_delete_blocked = True
    return plan
