"""`ragbot ask`: stream the answer, then the sources it really used, dated."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from rag.answering.source_lines import source_line
from rag.values import Answer
from ragbot.common import Options, fail, service, user_errors


def register(app: typer.Typer) -> None:
    app.command()(ask)


def print_sources(answer: Answer, stale_after_days: int) -> None:
    if answer.notice and answer.mode == "generated":
        typer.echo(f"\n({answer.notice})")
    if answer.unavailable_reason:  # the CLI's user runs the bot: the reason Slack users are spared
        typer.echo(f"(why: {answer.unavailable_reason}; `ragbot doctor` checks Ollama and the model)", err=True)
    if not answer.citations:
        return
    typer.echo("\nSources:")
    now = datetime.now(UTC)
    # what a line says is decided once, in rag/answering/source_lines.py (Slack shows the same)
    for c in answer.citations:
        line = source_line(c, now=now, stale_after_days=stale_after_days)
        stale = "  ⚠ possibly outdated" if line.stale else ""
        typer.echo(f"[{line.number}] {line.title} (updated {line.updated}, {line.age}){stale}")
        if line.note:  # held back by a rollback: the file changed since (rag/answering/source_lines.py)
            typer.echo(f"    ⚠ {line.note}")
        for place in line.places:
            quote = f"“{place.evidence}”" if place.evidence else ""
            typer.echo("    › " + " — ".join(part for part in (place.location, quote) if part))
            typer.echo(f"      {place.link}")
            if place.shared:  # the same text in other documents (GROUP_DUPLICATES)
                typer.echo(f"      {place.shared}")
        if not line.places:
            typer.echo(f"    {line.link}")


def ask(
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="Your question, in quotes.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Answer a question from the indexed documents, streaming the answer."""
    if not question.strip():
        raise fail("the question is empty")
    svc = service()
    streamed: list[str] = []

    def on_token(piece: str) -> None:
        if not streamed and not as_json and sys.stderr.isatty():
            typer.echo("\r\033[K", err=True, nl=False)  # the answer replaces the progress line
        streamed.append(piece)
        if not as_json:
            typer.echo(piece, nl=False)
            sys.stdout.flush()

    def on_status(text: str) -> None:
        """Progress ("searching…", "thinking… (10 s)") on a terminal's stderr, until the answer starts."""
        if not streamed and sys.stderr.isatty():
            typer.echo(f"\r\033[2m{text}\033[0m\033[K", err=True, nl=False)

    # rag.answering.ask's warnings (Ollama down, figures flagged) say what this command prints anyway: quiet them here
    # only, not for the whole process (`ragbot serve` keeps them in its log).
    ask_log = logging.getLogger("rag.answering.ask")
    level = ask_log.level
    if not Options.verbose:
        ask_log.setLevel(logging.ERROR)
    try:
        with user_errors():
            answer = svc.ask(question, on_token=on_token, on_status=None if as_json else on_status, surface="cli")
    finally:
        ask_log.setLevel(level)
    if sys.stderr.isatty() and not as_json:
        typer.echo("\r\033[K", err=True, nl=False)  # clear the progress line
    if as_json:
        typer.echo(json.dumps(_answer_json(answer), ensure_ascii=False, indent=2))
        return
    if streamed:
        typer.echo("")
    else:
        typer.echo(answer.text)
    print_sources(answer, svc.settings.stale_after_days)
    if Options.verbose:
        rerank = f" of which reranking {answer.rerank_ms:.0f} ms" if answer.rerank_ms else ""
        typer.echo(f"\n(retrieval {answer.retrieval_ms:.0f} ms{rerank}, generation {answer.generation_ms:.0f} ms)")


def _answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question, "answer": answer.text, "mode": answer.mode, "notice": answer.notice,
        "citations": [
            {"n": c.number, "title": c.title, "path": c.rel_path, "section": c.section, "pages": c.pages,
             "modified": c.modified.isoformat(), "link": c.link, "held_back": c.held_back,
             "places": [{"section": p.section, "pages": p.pages, "link": p.link, "evidence": p.evidence,
                         "also_in": [d.rel_path for d in p.shared.documents] if p.shared else []}
                        for p in c.passages]}
            for c in answer.citations
        ],
        "figures_checked": answer.figures_checked, "unsupported_figures": answer.unsupported_figures,
        "retrieval_ms": round(answer.retrieval_ms, 1), "rerank_ms": round(answer.rerank_ms, 1),
        "generation_ms": round(answer.generation_ms, 1),
    }
