"""API clients get JSON for a path that does not exist, in every mode.

Django answers an unknown URL with an HTML page (its debug page when
``DEBUG`` is on, where ``handler404`` is never called); a script calling the
API would then try to parse HTML.  Listed above ``CommonMiddleware`` so a
missing trailing slash is still redirected first.
"""

from django.http import JsonResponse


class ApiNotFoundMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return JsonResponse({"detail": f"No API endpoint at {request.path}. See /api/docs/."}, status=404)
        return response
