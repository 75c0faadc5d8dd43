"""`python -m bot`: start the Slack bot with settings from the environment / `.env`."""

from __future__ import annotations

import logging
import sys

from bot.config import BotConfigError, load_bot_settings


def main() -> int:
    try:
        settings = load_bot_settings()
        settings.check_can_start()
    except BotConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from bot.http.server import run
    from rag.config import ConfigError, load_settings
    from rag.service import RagService

    try:
        rag = RagService(load_settings())
        run(rag, settings)
    except (BotConfigError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
