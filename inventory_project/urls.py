"""URL routes: the admin at /admin/, the APIs under /api/."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("inventory.api.urls")),
    path("api/", include("integrations.api_urls")),
    path("integrations/", include("integrations.urls")),
]


def not_found(request, exception):
    """API clients get a JSON 404 (the shape DRF answers with), people the admin's HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


handler404 = not_found
