"""`ml feedback export --out DIR [--since YYYY-MM-DD]`: users' 👍, corrected 👎 and admins' "not spam" as
labelled photos, fetched through the Bot API into `DIR/<tag>/<file_unique_id>.jpg` with `DIR/manifest.csv`
(the rules are in `ml.feedback`). Reads DATABASE_URL / DATA_DIR and BOT_TOKEN, TELEGRAM_BASE_URL,
TELEGRAM_BASE_FILE_URL like the bot. Safe to re-run: photos already in DIR are skipped. Ends with one JSON
line: exported, already_there, gone, ambiguous, failed.
"""

from __future__ import annotations

import argparse
import json
import logging
from datetime import date
from pathlib import Path

from pydantic import ValidationError

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export", help="download rated photos into a labelled folder", description=__doc__.splitlines()[0]
    )
    export.add_argument("--out", type=Path, required=True, help="folder of the labelled photos (created)")
    export.add_argument(
        "--since",
        type=date.fromisoformat,
        default=None,
        help="only feedback given on or after this day, YYYY-MM-DD in UTC (default: all)",
    )


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from config import BotApiSettings, describe_validation_error
    from ml.feedback import TokenRefused, export
    from storage.settings import DatabaseSettings

    # httpx logs each request's URL at INFO, and the Bot API's URLs carry BOT_TOKEN.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        database, api = DatabaseSettings(), BotApiSettings()
    except ValidationError as error:
        logger.error(describe_validation_error(error))
        return 2
    try:
        summary = export(args.out, since=args.since, database=database, api=api)
    except SQLAlchemyError as error:  # its text names the statement, never the URL's password
        logger.error("cannot read the feedback from the database: %s", str(error).splitlines()[0])
        return 2
    except (TokenRefused, OSError) as error:  # the photos saved so far are in the manifest
        logger.error("export stopped: %s", error)
        return 2
    for failure in summary.failures:
        logger.warning("not downloaded (the next run tries again): %s", failure)
    print(json.dumps(summary.counts()))
    return 1 if summary.failed else 0
