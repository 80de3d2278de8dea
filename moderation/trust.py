"""Trusted members: who is no longer judged by the picture rules. Pure.

A member earns trust with `trust_after` clean posts in a row (photos the bot judged and found compatible
with their caption; a flag starts the count again), or an admin grants it. Known spam pictures are checked
whoever posts them: a trusted account can be stolen.
"""

from __future__ import annotations


def is_trusted(clean_posts: int, approved: bool, trust_after: int) -> bool:
    """`trust_after` 0: trust only by an admin's approval."""
    return approved or (trust_after > 0 and clean_posts >= trust_after)
