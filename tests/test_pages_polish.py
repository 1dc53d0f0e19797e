"""Small things a user meets: the 403 page, the favicon, the admin's names, the login page when signed in."""

import pytest
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def signed_in(username) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def test_a_refused_page_is_a_page_of_the_app(users):
    page = signed_in("anna").get("/queues/")
    assert page.status_code == 403
    html = page.content.decode()
    assert "<h1>Not allowed</h1>" in html and "The queue dashboard is for admins." in html
    assert "core/app.css" in html and "Log out" in html, "the app's look and navigation, not bare HTML"


def test_the_favicon_is_there(users):
    icon = Client().get("/favicon.ico")
    assert icon.status_code == 301 and icon["Location"].endswith("core/favicon.svg")
    assert 'rel="icon"' in signed_in("anna").get("/annotate/").content.decode()


def test_the_admin_says_part_masks_once(users):
    html = signed_in("alice").get("/admin/").content.decode()
    assert "Part masks" in html and "Part maskss" not in html


def test_the_login_page_sends_a_signed_in_user_on(users):
    back = signed_in("anna").get("/login/")
    assert back.status_code == 302, "Back to /login/ while signed in does not show the form again"
