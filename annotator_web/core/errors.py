"""Domain errors and how the API answers them: one place maps a refusal to HTTP.

A service raises :class:`DomainError` (or a subclass: the queue's ``WorkError``, an upload's ``ImageRejected``)
with the HTTP status that fits, the request field it is about and, where a client must act on it, a code. The
REST framework's exception handler (settings ``EXCEPTION_HANDLER``) answers it as
``{"detail": ..., "field": ..., "code": ...}`` (:class:`annotator_web.core.responses.ErrorResponse`); an
exception leaving a view also rolls back the view's ``transaction.atomic`` block, so nothing is half-written.
"""

from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import exception_handler


class DomainError(Exception):
    """A request refused; ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field
        self.code = code  # for the client to act on (see core.responses.ErrorResponse)

    def body(self) -> dict:
        out = {"detail": str(self)}
        if self.field:
            out["field"] = self.field
        if self.code:
            out["code"] = self.code
        return out


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.body(), status=exc.status)
    return exception_handler(exc, context)
