"""The second hardening round: what a probe of a production-like instance found, one test a finding (each failed
before its fix). Sign-in limits without holes, no dead-end tasks, no 500 on odd text, lax types refused."""

import threading

import pytest
from django.test import Client
from rest_framework.test import APIClient

from annotator_web.core.models import LoginFailure
from tests.conftest import PASSWORD

NEXT = "/api/tasks/next"


def token_call(client, username, password, fmt="json"):
    return client.post("/api/auth/token", {"username": username, "password": password}, format=fmt)


# --- 1, 2: sign-in limits ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_django_admin_login_counts_failures_and_is_refused_while_the_account_is_locked(make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    make_user("boss", "admin", is_staff=True)
    browser = Client()
    codes = [browser.post("/admin/login/", {"username": "boss", "password": "wrong"}).status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}, codes
    assert LoginFailure.objects.filter(username="boss").count() == 5
    page = browser.post("/admin/login/", {"username": "boss", "password": PASSWORD, "next": "/admin/"})
    assert page.status_code == 429 and 1 <= int(page["Retry-After"]) <= settings.LOGIN_FAILURE_WINDOW_SECONDS
    assert b"Too many failed logins" in page.content and "_auth_user_id" not in browser.session
    # the other ways in say the same, for the same account
    assert token_call(APIClient(), "boss", PASSWORD).status_code == 429
    assert Client().post("/login/", {"username": "boss", "password": PASSWORD}).status_code == 429


@pytest.mark.django_db
def test_failures_on_the_admin_login_lock_the_token_endpoint_and_a_success_there_clears_them(make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    make_user("boss", "admin", is_staff=True)
    browser = Client()
    for _ in range(2):
        browser.post("/admin/login/", {"username": "boss", "password": "wrong"})
    ok = browser.post("/admin/login/", {"username": "boss", "password": PASSWORD, "next": "/admin/"})
    assert ok.status_code == 302 and browser.session.get("_auth_user_id")
    assert not LoginFailure.objects.filter(username="boss").exists(), "the right password clears the count"


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", ["anna ", " anna", "anna\t", "\nanna", "anna\u00a0", "\uff41nna"])
def test_a_locked_account_stays_locked_however_its_name_is_spelt(users, settings, spelling):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    client = APIClient()
    for _ in range(6):
        token_call(client, "anna", "wrong")
    answer = token_call(client, spelling, PASSWORD)
    assert answer.status_code == 429, (repr(spelling), answer.status_code, answer.content[:200])
    assert token_call(client, spelling, PASSWORD, fmt="multipart").status_code == 429
    page = Client().post("/login/", {"username": spelling, "password": PASSWORD})
    assert page.status_code == 429 and "_auth_user_id" not in page.wsgi_request.session


@pytest.mark.django_db
def test_the_names_count_against_one_account_whichever_spelling_fails(users, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 4
    client = APIClient()
    for name in ("anna", " anna", "anna\t", "anna\u00a0"):
        assert token_call(client, name, "wrong").status_code == 400
    assert token_call(client, "anna", PASSWORD).status_code == 429
    assert set(LoginFailure.objects.values_list("username", flat=True)) == {"anna"}


@pytest.mark.django_db(transaction=True)
def test_thirty_wrong_passwords_at_once_check_no_more_than_the_limit(users, settings):
    """The count and the check are one step: each attempt is counted before its password is checked."""
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    settings.LOGIN_FAILURES_PER_ADDRESS = 1000
    start, codes = threading.Barrier(30), []

    def attempt():
        from django.db import connection

        try:
            start.wait()
            codes.append(token_call(APIClient(), "anna", "wrong").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(codes) == 30 and set(codes) <= {400, 429}
    assert codes.count(400) <= 5, f"{codes.count(400)} passwords were checked; the limit is 5"
    assert LoginFailure.objects.filter(username="anna").count() == codes.count(400)


# --- 4, 5: odd text ----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["\ud800", "an\x00na", "\udfffanna"])
def test_a_username_with_a_nul_or_a_lone_surrogate_is_a_400_everywhere(users, name):
    escaped = name.encode("unicode_escape").decode().replace("\\x00", "\\u0000")
    body = '{"username": "' + escaped + '", "password": "x"}'
    api = APIClient().post("/api/auth/token", body, content_type="application/json")
    assert api.status_code == 400, (repr(name), api.status_code)
    if "\x00" in name:  # a form cannot carry a lone surrogate (it is not UTF-8); a NUL it can
        form = APIClient().post("/api/auth/token", {"username": name, "password": "x"}, format="multipart")
        assert form.status_code == 400
        encoded = APIClient().post("/api/auth/token", "username=an%00na&password=x",
                                   content_type="application/x-www-form-urlencoded")  # fmt: skip
        assert encoded.status_code == 400
        for url in ("/login/", "/admin/login/"):
            page = Client().post(url, {"username": name, "password": "x"})
            assert page.status_code == 400, (url, page.status_code)
    assert not LoginFailure.objects.exists()
