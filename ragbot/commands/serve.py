"""`ragbot serve`: the scheduled sync, plus the Slack bot when its token is set."""

from __future__ import annotations

import typer

from ragbot.common import service, user_errors


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve() -> None:
    """Run the scheduled sync and, when Slack tokens are set, the Slack bot."""
    svc = service()
    with user_errors():
        from bot.entry import load_bot_settings

        bot_settings = load_bot_settings()
    if bot_settings.slack_bot_token is not None:
        from bot.entry import run_bot

        with user_errors():
            run_bot(svc, bot_settings)
        return
    from rag.ops.scheduler import run_forever

    typer.echo("no SLACK_BOT_TOKEN set: running the scheduled sync only (Ctrl-C to stop)")
    with user_errors():
        run_forever(svc)
