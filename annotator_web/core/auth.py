"""Signing in: failed logins throttled per account and per address, API tokens that expire, rotate when the
password changes and are revoked at logout. One home for these rules; the login page and the token endpoint
both go through :func:`refused_for` and :func:`record`.

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
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator_web.core.responses import TokenResponse, answers
from annotator_web.core.tokens import token_expired


def client_address(request) -> str:
    """The caller's address: REMOTE_ADDR (behind a trusted proxy, its X-Forwarded-For's last hop)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.BEHIND_PROXY and forwarded:
        return forwarded.split(",")[-1].strip()[:64]
    return (request.META.get("REMOTE_ADDR") or "unknown")[:64]


def refused_for(username: str, address: str) -> int | None:
    """Seconds until a login for this account and address may be tried again, or None when it may now."""
    from annotator_web.core.models import LoginFailure

    now = timezone.now()
    since = now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    recent = LoginFailure.objects.filter(at__gte=since)
    waits = []
    for rows, limit in ((recent.filter(username=username[:150]), settings.LOGIN_FAILURES_PER_ACCOUNT),
                        (recent.filter(address=address), settings.LOGIN_FAILURES_PER_ADDRESS)):  # fmt: skip
        if rows.count() >= limit:
            # the oldest counted failure leaves the window when the count drops below the limit
            oldest = rows.order_by("-at").values_list("at", flat=True)[limit - 1]
            waits.append((oldest - since).total_seconds())
    return max(1, math.ceil(max(waits))) if waits else None


def record(username: str, address: str, ok: bool) -> None:
    from annotator_web.core.models import LoginFailure

    if ok:
        LoginFailure.objects.filter(username=username[:150]).delete()
        return
    LoginFailure.objects.create(username=username[:150], address=address)
    cutoff = timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    LoginFailure.objects.filter(at__lt=cutoff).delete()  # the table stays small


def throttled_response(wait: int) -> Response:
    response = Response(
        {"detail": f"too many failed logins; try again in {wait} seconds"}, status=status.HTTP_429_TOO_MANY_REQUESTS
    )
    response["Retry-After"] = str(wait)
    return response


class TokenView(ObtainAuthToken):
    """POST {username, password} -> {token}; throttled like the login page."""

    @extend_schema(request=AuthTokenSerializer, responses={**answers({200: TokenResponse}), 400: OpenApiTypes.OBJECT})
    def post(self, request, *args, **kwargs):
        username = str(request.data.get("username", "")) if hasattr(request.data, "get") else ""
        address = client_address(request)
        wait = refused_for(username, address)
        if wait is not None:
            return throttled_response(wait)
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            record(username, address, ok=False)
            return Response(serializer.errors, status=status.HTTP_400_BAD_REQUEST)
        user = serializer.validated_data["user"]
        record(username, address, ok=True)
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


class LoginView(auth_views.LoginView):
    """The login page, throttled like the token endpoint."""

    template_name = "core/login.html"
    redirect_authenticated_user = True  # Back to /login/ when signed in: to the app, not the form again

    def post(self, request, *args, **kwargs):
        wait = refused_for(str(request.POST.get("username", "")), client_address(request))
        if wait is not None:
            response = self.render_to_response(self.get_context_data(form=self.get_form(), throttled=wait), status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        record(str(self.request.POST.get("username", "")), client_address(self.request), ok=False)
        return super().form_invalid(form)

    def form_valid(self, form):
        record(form.get_user().get_username(), client_address(self.request), ok=True)
        return super().form_valid(form)


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
