"""Response headers for pages: the Content-Security-Policy (``CONTENT_SECURITY_POLICY`` in the settings)."""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    """Every HTML page gets the ``CONTENT_SECURITY_POLICY`` header (the Swagger page, which sets itself up with
    an inline script, excepted)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        html = response.get("Content-Type", "").startswith("text/html")
        if html and not request.path.startswith("/api/docs") and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response
