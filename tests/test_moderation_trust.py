"""Who is trusted (moderation.trust): a pure rule."""

from __future__ import annotations

import pytest

from moderation.trust import is_trusted


@pytest.mark.parametrize(
    ("clean_posts", "approved", "trust_after", "trusted"),
    [
        (0, False, 10, False),
        (9, False, 10, False),
        (10, False, 10, True),
        (11, False, 10, True),
        (0, True, 10, True),  # an admin's approval needs no count
        (50, False, 0, False),  # 0: only admins grant trust
        (0, True, 0, True),
    ],
)
def test_trust_comes_from_enough_clean_posts_or_an_admin(clean_posts, approved, trust_after, trusted):
    assert is_trusted(clean_posts, approved, trust_after) is trusted
