"""web.auth: Telegram's Login Widget check against a vector computed independently, roles and CSRF."""

from __future__ import annotations

import pytest

from web.auth import (
    LoginError,
    Role,
    TelegramUser,
    csrf_ok,
    data_check_string,
    is_admin_status,
    login_hash,
    new_csrf_token,
    replay_window_s,
    role_for,
    used_login_key,
    verify_login,
)

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
FIELDS = {"id": "42", "first_name": "Alice", "username": "alice", "auth_date": "1700000000"}
# Computed outside Python, as Telegram documents it:
#   KEY=$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)
#   printf 'auth_date=1700000000\nfirst_name=Alice\nid=42\nusername=alice' |
#     openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY
KNOWN_HASH = "ea4299352100501c724b42d19f17c6bf6372c1d768522db6443aef488dbd4844"
NOW = 1700000000 + 60
DAY = 86400


def signed(**changes: str) -> dict[str, str]:
    fields = FIELDS | changes
    return fields | {"hash": login_hash(fields, TOKEN)}


def test_data_check_string_is_sorted_lines_without_the_hash() -> None:
    fields = FIELDS | {"hash": "x"}
    assert data_check_string(fields) == "auth_date=1700000000\nfirst_name=Alice\nid=42\nusername=alice"


def test_hash_matches_the_independently_computed_vector() -> None:
    assert login_hash(FIELDS, TOKEN) == KNOWN_HASH
    user = verify_login(FIELDS | {"hash": KNOWN_HASH}, TOKEN, now=NOW, max_age_s=DAY)
    assert user == TelegramUser(42, "Alice", "alice")
    assert user.display_name == "Alice (@alice)"


def test_uppercase_hex_is_the_same_hash() -> None:
    assert verify_login(FIELDS | {"hash": KNOWN_HASH.upper()}, TOKEN, now=NOW, max_age_s=DAY).id == 42


@pytest.mark.parametrize(
    "tamper",
    [
        {"id": "43"},  # someone else's id under Alice's signature
        {"first_name": "Mallory"},
        {"photo_url": "https://example.org/x.jpg"},  # an extra field counts too
    ],
)
def test_any_changed_or_added_field_breaks_the_signature(tamper: dict[str, str]) -> None:
    with pytest.raises(LoginError, match="not signed"):
        verify_login(FIELDS | {"hash": KNOWN_HASH} | tamper, TOKEN, now=NOW, max_age_s=DAY)


def test_another_bots_token_is_refused() -> None:
    with pytest.raises(LoginError, match="not signed"):
        verify_login(FIELDS | {"hash": KNOWN_HASH}, "654321:other", now=NOW, max_age_s=DAY)


def test_stale_login_is_refused_and_fresh_one_accepted() -> None:
    fields = signed()
    assert verify_login(fields, TOKEN, now=1700000000 + DAY, max_age_s=DAY).id == 42
    with pytest.raises(LoginError, match="expired"):
        verify_login(fields, TOKEN, now=1700000000 + DAY + 1, max_age_s=DAY)


def test_future_dated_login_is_refused() -> None:
    with pytest.raises(LoginError, match="future"):
        verify_login(signed(), TOKEN, now=1700000000 - 3600, max_age_s=DAY)


@pytest.mark.parametrize("missing", ["hash", "id", "auth_date"])
def test_incomplete_login_is_refused(missing: str) -> None:
    fields = signed()
    del fields[missing]
    with pytest.raises(LoginError):
        verify_login(fields, TOKEN, now=NOW, max_age_s=DAY)


def test_malformed_id_is_refused_even_when_signed() -> None:
    with pytest.raises(LoginError, match="malformed"):
        verify_login(signed(id="abc"), TOKEN, now=NOW, max_age_s=DAY)


def test_user_without_username() -> None:
    fields = {key: value for key, value in FIELDS.items() if key != "username"}
    user = verify_login(fields | {"hash": login_hash(fields, TOKEN)}, TOKEN, now=NOW, max_age_s=DAY)
    assert user.username is None and user.display_name == "Alice"


def test_roles() -> None:
    assert role_for(1, frozenset({1, 2})) is Role.OPERATOR
    assert role_for(3, frozenset({1, 2})) is Role.ADMIN
    assert [
        s
        for s in ("creator", "administrator", "member", "restricted", "left", "kicked")
        if is_admin_status(s)
    ] == [
        "creator",
        "administrator",
    ]


def test_csrf() -> None:
    token = new_csrf_token()
    assert len(token) >= 40 and token != new_csrf_token()
    assert csrf_ok(token, token)
    assert not csrf_ok(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not csrf_ok(token, None)
    assert not csrf_ok(None, None)
    assert not csrf_ok("", "")


def test_a_used_link_is_remembered_by_its_hash_until_it_expires() -> None:
    fields = {"id": "1", "auth_date": "1000", "hash": "ABCDEF"}
    assert used_login_key(fields) == "scenetag:web:used-login:abcdef"
    assert replay_window_s(fields, now=1000, max_age_s=600) == 601
    assert replay_window_s(fields, now=1599.5, max_age_s=600) == 1
    assert replay_window_s(fields, now=5000, max_age_s=600) == 1  # never a non-positive Redis TTL
