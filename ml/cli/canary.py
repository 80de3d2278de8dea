"""`ml canary report`: the active model and its canary compared on what users and admins said about their
answers since the canary started (`ml promote FILE --canary PERCENT`): 👍 rate, corrections after 👎,
abstentions, confidence, flags and admins' "not spam" verdicts.

The two versions answered different photos, so rates are compared with Fisher's exact test
(`ml.training.significance.judge_rates`). The report says **roll back** when the canary's 👍 rate is
significantly lower or its share of flags admins called "not spam" significantly higher, **promote** only when
its 👍 rate is significantly higher and its flags are not significantly worse, and otherwise **keep the canary
running**: no difference is evidence of nothing. Reads REDIS_URL (the registry: which versions, since when)
and DATABASE_URL / DATA_DIR (the answers), like the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ml.training.significance import BETTER, WORSE, Verdict, judge_rates

if TYPE_CHECKING:
    from storage.repository import VersionFeedback
    from storage.settings import DatabaseSettings

logger = logging.getLogger(__name__)
PROMOTE, ROLL_BACK, KEEP = "promote", "roll back", "keep the canary running"


@dataclass(frozen=True)
class CanaryReport:
    active: VersionFeedback
    canary: VersionFeedback
    since: datetime | None
    thumbs_up: Verdict  # the canary's 👍 rate against the active version's
    wrong_flags: Verdict  # the canary's share of flags called "not spam" against the active version's
    decision: str  # PROMOTE, ROLL_BACK or KEEP
    reason: str


def judge_canary(
    active: VersionFeedback, canary: VersionFeedback, since: datetime | None = None, alpha: float = 0.05
) -> CanaryReport:
    thumbs = judge_rates(active.up, active.down, canary.up, canary.down, alpha)
    flags = judge_rates(active.not_spam, active.flags - active.not_spam,
                        canary.not_spam, canary.flags - canary.not_spam, alpha)
    if thumbs.decision == WORSE:
        decision, reason = ROLL_BACK, f"the canary's 👍 rate: {thumbs.text}"
    elif flags.decision == BETTER:  # a higher share of flags called "not spam" is worse
        decision, reason = ROLL_BACK, f"the canary's share of flags admins called not spam: {flags.text}"
    elif thumbs.decision == BETTER:
        decision, reason = PROMOTE, f"the canary's 👍 rate: {thumbs.text}; wrong flags: {flags.text}"
    else:
        ratings = f"{canary.up + canary.down} ratings of the canary, {active.up + active.down} of the active"
        decision, reason = KEEP, f"the canary's 👍 rate: {thumbs.text} ({ratings})"
    return CanaryReport(active, canary, since, thumbs, flags, decision, reason)


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def format_report(report: CanaryReport) -> str:
    rows = [("", "active", "canary")]
    for title, cell in (
        ("version", lambda v: v.version),
        ("photos answered", lambda v: str(v.photos)),
        ("suggested (not abstained)", lambda v: share(v.suggested, v.photos)),
        ("mean confidence", lambda v: "-" if v.mean_confidence is None else f"{v.mean_confidence:.3f}"),
        # Words, not emoji, in the table: terminals draw emoji two columns wide and break the alignment.
        ("rated up / down", lambda v: f"{v.up} / {v.down}"),
        ("share rated up", lambda v: share(v.up, v.up + v.down)),
        ("picked another tag", lambda v: str(v.corrected)),
        ("flags", lambda v: str(v.flags)),
        ("flags called not spam", lambda v: share(v.not_spam, v.flags)),
    ):
        rows.append((title, cell(report.active), cell(report.canary)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    table = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in rows]
    since = f"since {report.since:%Y-%m-%d %H:%M} UTC" if report.since else "all answers"
    return "\n".join([f"canary report ({since})", *table, "", f"{report.decision}: {report.reason}"])


def report_json(report: CanaryReport) -> dict[str, Any]:
    return {"since": report.since.isoformat() if report.since else None, "active": asdict(report.active),
            "canary": asdict(report.canary), "thumbs_up": asdict(report.thumbs_up),
            "wrong_flags": asdict(report.wrong_flags), "decision": report.decision, "reason": report.reason}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    report = actions.add_parser(
        "report", help="compare the active version and its canary on users' ratings",
        description=__doc__.splitlines()[0],
    )
    report.add_argument("--versions", nargs=2, metavar=("ACTIVE", "CANARY"),
                        help="compare these two versions (default: the registry's active version and canary)")
    report.add_argument("--since", type=datetime.fromisoformat,
                        help="only answers from this moment on, ISO 8601, UTC unless it says otherwise "
                        "(default: when the canary was promoted; with --versions: all answers)")
    report.add_argument("--alpha", type=float, default=0.05, help="significance level (default: 0.05)")
    report.add_argument("--json", action="store_true", help="print the report as JSON")


def registry_canary() -> tuple[str, str, datetime]:
    """The registry's active version, its canary and when the canary was promoted."""
    from ml import registry
    from ml.registry.settings import RegistrySettings

    connection = RegistrySettings.from_env().connect()
    state = registry.read_state(connection)
    if state.active is None or state.canary is None:
        raise SystemExit("no canary runs (ml models shows the registry); name two versions with --versions "
                         "ACTIVE CANARY to compare them anyway")
    record = registry.read_records(connection)[state.canary]
    return state.active, state.canary, datetime.fromtimestamp(record.promoted_at, UTC)


async def read_feedback(
    database: DatabaseSettings, versions: tuple[str, str], since: datetime | None
) -> list[VersionFeedback]:
    from storage.repository import version_feedback
    from storage.session import create_engine, create_sessionmaker

    engine = create_engine(database.effective_database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return [await version_feedback(session, version, since) for version in versions]
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from storage.settings import DatabaseSettings

    if args.versions:
        active, canary = args.versions
        since = args.since
    else:
        active, canary, promoted_at = registry_canary()
        since = args.since or promoted_at
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    try:
        feedback = asyncio.run(read_feedback(DatabaseSettings(), (active, canary), since))
    except SQLAlchemyError as error:  # its text names the statement, never the URL's password
        raise SystemExit(f"cannot read the answers from the database: {str(error).splitlines()[0]}") from None
    report = judge_canary(*feedback, since=since, alpha=args.alpha)
    print(json.dumps(report_json(report)) if args.json else format_report(report))
    return 0
