"""API tokens that expire after ``TOKEN_TTL_HOURS`` (the rules around them: ``annotator_web.core.auth``). Kept apart
from the views: DRF reads this class from the settings while its views are being defined.

Every API call is authenticated here, so the lookup is one statement written once: the token, its user and which
role groups the user is in (DRF's own lookup and the role's read through the ORM were two queries and about 1 ms of
the ORM building them, a quarter of a draft's cost)."""

from datetime import UTC, timedelta
from functools import cache

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


def token_expired(token) -> bool:
    return timezone.now() - token.created > timedelta(hours=settings.TOKEN_TTL_HOURS)


@cache
def _lookup_sql() -> str:
    """SELECT the user's columns, the token's creation time and one EXISTS a role group, for a token key."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from annotator_web.core.policy import ROLES

    user_model, q = get_user_model(), connection.ops.quote_name
    through, groups = user_model.groups.through, user_model.groups.field
    group_table = groups.related_model._meta.db_table
    user_columns = ", ".join(f"u.{q(f.column)}" for f in user_model._meta.concrete_fields)
    in_role = (
        f"EXISTS(SELECT 1 FROM {q(through._meta.db_table)} ug INNER JOIN {q(group_table)} g "
        f"ON g.{q('id')} = ug.{q(groups.m2m_reverse_name())} "
        f"WHERE ug.{q(groups.m2m_column_name())} = u.{q(user_model._meta.pk.column)} AND g.{q('name')} = %s)"
    )
    roles = ", ".join(f"{in_role} AS {q('_in_' + role)}" for role in ROLES)
    token = {name: q(Token._meta.get_field(name).column) for name in ("key", "user", "created")}
    return (
        f"SELECT {user_columns}, t.{token['created']} AS {q('_token_created')}, {roles} "
        f"FROM {q(Token._meta.db_table)} t INNER JOIN {q(user_model._meta.db_table)} u "
        f"ON u.{q(user_model._meta.pk.column)} = t.{token['user']} WHERE t.{token['key']} = %s"
    )


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        from django.contrib.auth import get_user_model

        from annotator_web.core import policy

        # DRF's checks and messages, on one query (the ORM converts the user's columns: RawQuerySet)
        user = next(iter(get_user_model().objects.raw(_lookup_sql(), [*policy.ROLES, key])), None)
        if user is None:
            raise AuthenticationFailed("Invalid token.")
        if not user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        policy.remember_role_groups(user, [role for role in policy.ROLES if getattr(user, f"_in_{role}")])
        created = user._token_created
        if timezone.is_naive(created):  # SQLite hands a raw column back without its time zone (stored in UTC)
            created = created.replace(tzinfo=UTC)
        token = self.get_model()(key=key, user=user, created=created)
        token._state.adding, token._state.db = False, user._state.db  # as if read from the database
        if token_expired(token):
            raise AuthenticationFailed("your token expired; ask for a new one at /api/auth/token")
        return user, token
