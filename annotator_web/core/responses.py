"""What the API answers, declared for the OpenAPI schema (``/api/schema/``): the views build plain dicts, these
serializers only describe them, so that the schema types every response and clients can be generated from it.
The API fuzz test checks each answer against its declaration."""

from rest_framework import serializers

ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 429)


class ErrorResponse(serializers.Serializer):
    detail = serializers.CharField(help_text="what is wrong, and where")
    field = serializers.CharField(required=False, help_text="the request field it is about, when there is one")
    code = serializers.CharField(
        required=False,
        help_text="for the client to act on: 'lease_lost' when the task is no longer leased to you (given to "
        "someone else, submitted, or the lease ran out)",
    )


class ErrorsByField(serializers.Serializer):
    """A refusal by field (Django REST framework's validation errors): ``{"field": ["reason", ...]}``."""

    detail = serializers.CharField(required=False)


def answers(ok: dict) -> dict:
    """``ok`` (status -> serializer) with every refusal declared as an error object."""
    return {**{code: ErrorResponse for code in ERROR_STATUSES}, **ok}


class MeResponse(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(["admin", "reviewer", "annotator"], allow_null=True)


class JobKindResponse(serializers.Serializer):
    kind = serializers.CharField()
    title = serializers.CharField()
    queue = serializers.CharField()
    can_start = serializers.BooleanField()


class TokenResponse(serializers.Serializer):
    token = serializers.CharField()


class BuildingResponse(serializers.Serializer):
    detail = serializers.CharField()
    job = serializers.IntegerField(help_text="the job that builds the files")
