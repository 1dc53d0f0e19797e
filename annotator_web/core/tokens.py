"""API tokens that expire after ``TOKEN_TTL_HOURS`` (the rules around them: ``annotator_web.core.auth``). Kept apart
from the views: DRF reads this class from the settings while its views are being defined."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


def token_expired(token) -> bool:
    return timezone.now() - token.created > timedelta(hours=settings.TOKEN_TTL_HOURS)


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            raise AuthenticationFailed("your token expired; ask for a new one at /api/auth/token")
        return user, token
