"""Signing in: failed logins throttled per account and per address, API tokens that expire, rotate when the
password changes and are revoked at logout. One home for these rules; the login page and the token endpoint
and the Django admin's login all go through :func:`login_name` and :func:`begin_attempt`.

- A failed login (wrong password, unknown user) is stored with its user name and address. Once an account
  has ``LOGIN_FAILURES_PER_ACCOUNT`` failures, or an address ``LOGIN_FAILURES_PER_ADDRESS``, within
  ``LOGIN_FAILURE_WINDOW_SECONDS``, logins for it answer 429 with ``Retry-After`` until the oldest counted
  failure leaves the window: the right password does not get through meanwhile. A successful login clears
  the account's failures.
- Tokens (``Authorization: Token …``) older than ``TOKEN_TTL_HOURS`` are refused; asking for a token again
  after that gives a new one. Changing the password deletes the user's token; so does ``POST
  /api/auth/logout`` and logging out of the web pages.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from annotator_web.core.responses import TokenResponse, answers
from annotator_web.core.tokens import token_expired


def client_address(request) -> str:
    """The caller's address: REMOTE_ADDR (behind a trusted proxy, its X-Forwarded-For's last hop)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.BEHIND_PROXY and forwarded:
        return forwarded.split(",")[-1].strip()[:64]
    return (request.META.get("REMOTE_ADDR") or "unknown")[:64]


class BadLoginName(ValueError):
    """A user name no account can have: not text, or holding a NUL or a lone surrogate (the database cannot
    store either)."""


def login_name(raw) -> str:
    """The account a login is for, as the login forms read the name: Unicode-normalised (NFKC) and stripped of
    surrounding whitespace (spaces, tabs, newlines, no-break spaces). The throttle counts this and it is the
    name authenticated, so no spelling of a name escapes its account's count."""
    if not isinstance(raw, str):
        raise BadLoginName(f"username is text, not {type(raw).__name__}")
    if "\x00" in raw:
        raise BadLoginName("username holds a NUL character")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise BadLoginName("username holds a lone surrogate (\\ud800-\\udfff), which is not a character") from None
    return unicodedata.normalize("NFKC", raw).strip()[:150]


def begin_attempt(username: str, address: str) -> tuple[int | None, int | None]:
    """Count a login attempt before it is checked: (the attempt's row, None), or (None, seconds to wait) when the
    account or the address is over its limit. The count and the check are one step: the attempt is stored first
    and counted with the others, so of many attempts sent at once no more than the limit are checked.

    An attempt stays counted as a failure unless :func:`succeeded` clears the account; a refused attempt is not
    counted (it checked nothing)."""
    from annotator_web.core.models import LoginFailure

    attempt = LoginFailure.objects.create(username=username, address=address)
    since = timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    recent = LoginFailure.objects.filter(at__gte=since)
    waits = []
    for rows, limit in ((recent.filter(username=username), settings.LOGIN_FAILURES_PER_ACCOUNT),
                        (recent.filter(address=address), settings.LOGIN_FAILURES_PER_ADDRESS)):  # fmt: skip
        # the newest ``limit`` others, read in one query (others come and go meanwhile): when there are that many,
        # the attempt waits until the oldest of them leaves the window and the count drops below the limit
        newest = list(rows.exclude(pk=attempt.pk).order_by("-at", "-pk").values_list("at", flat=True)[:limit])
        if len(newest) >= limit:
            waits.append((newest[-1] - since).total_seconds())
    if waits:
        attempt.delete()
        return None, max(1, math.ceil(max(waits)))
    LoginFailure.objects.filter(at__lt=since).delete()  # the table stays small
    return attempt.pk, None


def succeeded(username: str) -> None:
    """A login with the right password: the account's failures (this attempt's row too) are cleared."""
    from annotator_web.core.models import LoginFailure

    LoginFailure.objects.filter(username=username).delete()


def throttled_response(wait: int) -> Response:
    response = Response(
        {"detail": f"too many failed logins; try again in {wait} seconds"}, status=status.HTTP_429_TOO_MANY_REQUESTS
    )
    response["Retry-After"] = str(wait)
    return response


class TokenView(ObtainAuthToken):
    """POST {username, password} -> {token}; throttled like the login page."""

    parser_classes = api_settings.DEFAULT_PARSER_CLASSES  # bodies the database can hold (ObtainAuthToken's are not)

    @extend_schema(request=AuthTokenSerializer, responses={**answers({200: TokenResponse}), 400: OpenApiTypes.OBJECT})
    def post(self, request, *args, **kwargs):
        try:
            username = login_name(request.data.get("username", "") if hasattr(request.data, "get") else "")
        except BadLoginName as exc:
            return Response({"username": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        _, wait = begin_attempt(username, client_address(request))
        if wait is not None:
            return throttled_response(wait)
        serializer = self.get_serializer(data={"username": username, "password": request.data.get("password")})
        if not serializer.is_valid():
            return Response(serializer.errors, status=status.HTTP_400_BAD_REQUEST)
        user = serializer.validated_data["user"]
        succeeded(username)
        token, _ = Token.objects.get_or_create(user=user)
        if token_expired(token):
            token.delete()
            token = Token.objects.create(user=user)
        return Response({"token": token.key})


class LogoutTokenView(APIView):
    """POST: revoke your API token."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=answers({204: None}))
    def post(self, request):
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


LOGIN_ATTEMPT = "_login_attempt"  # the attempt a login page's request is (see :func:`on_logged_in`)


def throttled_page_login(request, log_in: Callable[[], HttpResponse], refused: Callable[[int], HttpResponse]):
    """A login page's POST (ours and the Django admin's) through the same limits as the token endpoint:
    ``log_in()`` answers it when the account and address may try, ``refused(wait)`` when they may not. A name
    no account can have is a 400."""
    try:
        username = login_name(request.POST.get("username", ""))
    except BadLoginName as exc:
        return HttpResponseBadRequest(f"{exc}", content_type="text/plain; charset=utf-8")
    _, wait = begin_attempt(username, client_address(request))
    if wait is not None:
        response = refused(wait)
        response["Retry-After"] = str(wait)
        return response
    setattr(request, LOGIN_ATTEMPT, username)
    return log_in()


def on_logged_in(sender, request, user, **kwargs) -> None:
    """Django's ``user_logged_in``: a login page's attempt succeeded, so the account's failures go."""
    username = getattr(request, LOGIN_ATTEMPT, None) if request is not None else None
    if username is not None:
        succeeded(username)


class LoginView(auth_views.LoginView):
    """The login page, throttled like the token endpoint."""

    template_name = "core/login.html"
    redirect_authenticated_user = True  # Back to /login/ when signed in: to the app, not the form again

    def post(self, request, *args, **kwargs):
        def refused(wait: int):
            context = self.get_context_data(form=self.get_form(), throttled=wait)
            return self.render_to_response(context, status=429)

        return throttled_page_login(request, lambda: super(LoginView, self).post(request, *args, **kwargs), refused)


def revoke_token_on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        Token.objects.filter(user=user).delete()


def rotate_token_on_password_change(sender, instance, **kwargs) -> None:
    """Before a user is saved with a new password hash, their token goes (a new one is asked for)."""
    if not instance.pk:
        return
    old = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if old is not None and old != instance.password:
        Token.objects.filter(user_id=instance.pk).delete()
