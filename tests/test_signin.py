"""Signing in: failed logins throttled per account and per address (429 with Retry-After, the right password
does not get through meanwhile), tokens that expire, rotate with the password and are revoked at logout."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def token_call(client, username, password):
    return client.post("/api/auth/token", {"username": username, "password": password}, format="json")


def test_wrong_passwords_lock_the_account_for_a_while_on_the_token_endpoint(users, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    client = APIClient()
    codes = [token_call(client, "anna", "wrong").status_code for _ in range(30)]
    assert codes[:5] == [400] * 5 and set(codes[5:]) == {429}
    locked = token_call(client, "anna", PASSWORD)
    assert locked.status_code == 429, "the right password does not get through while the account is locked"
    assert 1 <= int(locked["Retry-After"]) <= settings.LOGIN_FAILURE_WINDOW_SECONDS
    assert "too many failed logins" in locked.json()["detail"]
    assert token_call(client, "otto", PASSWORD).status_code == 200, "another account is not locked"
    # once the failures are older than the window, the right password works and clears the count
    from annotator_web.core.models import LoginFailure

    LoginFailure.objects.update(at=timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS + 1))
    assert token_call(client, "anna", PASSWORD).status_code == 200
    assert not LoginFailure.objects.filter(username="anna").exists()


def test_the_login_page_is_throttled_too(users, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    browser = Client()
    for _ in range(3):
        assert browser.post("/login/", {"username": "rita", "password": "nope"}).status_code == 200
    page = browser.post("/login/", {"username": "rita", "password": PASSWORD})
    assert page.status_code == 429 and int(page["Retry-After"]) > 0
    assert b"Too many failed logins" in page.content
    assert "_auth_user_id" not in browser.session


def test_one_address_trying_many_accounts_is_throttled(users, make_user, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    client = APIClient()
    for k in range(4):
        assert token_call(client, f"nobody{k}", "x").status_code == 400
    assert token_call(client, "alice", PASSWORD).status_code == 429
    other = APIClient(REMOTE_ADDR="10.0.0.9")
    assert token_call(other, "alice", PASSWORD).status_code == 200, "another address is not throttled"


def test_tokens_expire_rotate_with_the_password_and_are_revoked_at_logout(users, settings):
    client = APIClient()
    key = token_call(client, "anna", PASSWORD).json()["token"]
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert me.get("/api/me").status_code == 200
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=settings.TOKEN_TTL_HOURS + 1))
    expired = me.get("/api/me")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    fresh = token_call(client, "anna", PASSWORD).json()["token"]
    assert fresh != key, "asking again after expiry gives a new token"

    anna = users["annotator"]
    me.credentials(HTTP_AUTHORIZATION=f"Token {fresh}")
    anna.set_password("a-new-long-password-2")
    anna.save()
    assert me.get("/api/me").status_code == 401, "a password change revokes the token"

    third = token_call(client, "anna", "a-new-long-password-2").json()["token"]
    me.credentials(HTTP_AUTHORIZATION=f"Token {third}")
    assert me.post("/api/auth/logout").status_code == 204
    assert me.get("/api/me").status_code == 401 and not Token.objects.filter(user=anna).exists()


def test_every_call_reads_the_token_its_user_and_their_role_afresh(users, client_for):
    """A call's token, user and role are read together (one query, annotator_web.core.tokens): a role given or
    taken away and an account switched off count from the very next call; an unknown token is refused."""
    from django.contrib.auth.models import Group

    anna, me = users["annotator"], client_for(users["annotator"])
    assert me.get("/api/me").json()["role"] == "annotator"
    assert me.post("/api/tasks/next", {"project": "none"}, format="json").status_code == 400, "an annotator's call"
    anna.groups.add(Group.objects.get(name="reviewer"))
    assert me.get("/api/me").json()["role"] == "reviewer", "the highest of the roles, from the next call"
    anna.groups.clear()
    assert me.get("/api/me").json()["role"] is None
    assert me.post("/api/tasks/next", {"project": "none"}, format="json").status_code == 403, "no role, no work"
    anna.is_active = False
    anna.save()
    switched_off = me.get("/api/me")
    assert switched_off.status_code == 401 and switched_off.json()["detail"] == "User inactive or deleted."
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    unknown = stranger.get("/api/me")
    assert unknown.status_code == 401 and unknown.json()["detail"] == "Invalid token."


def test_pages_send_a_content_security_policy(users):
    page = Client().get("/login/")
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    api = APIClient()
    api.force_authenticate(users["admin"])
    assert "Content-Security-Policy" not in api.get("/api/me"), "JSON is not a page"
