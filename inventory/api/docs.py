"""The API's browsable documentation, with its assets served by the hub itself.

Swagger UI's files come from the drf-spectacular-sidecar package and are
served from here, so the docs page needs no CDN (air-gapped installs, strict
CSP) and no extra app in INSTALLED_APPS or collectstatic step.
"""

from pathlib import Path

from django.http import Http404
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.static import serve
from drf_spectacular.views import SpectacularSwaggerView

try:
    import drf_spectacular_sidecar
except ImportError:  # the API works without it; only the docs page lacks its assets
    drf_spectacular_sidecar = None

ASSET_DIR = drf_spectacular_sidecar and (
    Path(drf_spectacular_sidecar.__file__).resolve().parent
    / "static" / "drf_spectacular_sidecar" / "swagger-ui-dist"
)
ASSETS = frozenset({
    "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png",
})


def asset_url(filename: str) -> str:
    return reverse("api-docs-asset", args=[filename])


class SwaggerView(SpectacularSwaggerView):
    url_name = "api-schema"

    @staticmethod
    def _swagger_ui_resource(filename):
        return asset_url(filename)

    @staticmethod
    def _swagger_ui_favicon():
        return asset_url("favicon-32x32.png")


@cache_control(public=True, max_age=86400)
def swagger_asset(request, filename):
    if filename not in ASSETS or ASSET_DIR is None:
        raise Http404
    return serve(request, filename, document_root=str(ASSET_DIR))
