"""Routes under ``/api/``: v1 (the hub's own), v2 (compatible), the schema and its docs.

SKUs may contain slashes, so item routes take the rest of the path as the SKU;
the ``told/`` and ``ledger/`` routes come first so they win.
"""

from django.urls import path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView

from . import docs, orders, v1, v1_imports, v2


class SkuConverter:
    """Any text without NUL (which no database column holds)."""

    regex = r"[^\x00]+"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(SkuConverter, "sku")

store = "v1/stores/<slug:slug>/"

v1_patterns = [
    path("", v1.ApiRoot.as_view(), name="api-root"),
    path("v1/", v1.ApiRoot.as_view(), name="api-v1-root"),
    path("v1/stores/", v1.StoreList.as_view(), name="api-v1-stores"),
    path(store, v1.StoreDetail.as_view(), name="api-v1-store"),
    path(store + "items/", v1.ItemListCreate.as_view(), name="api-v1-items"),
    path(store + "items/<sku:code>/told/", v1.ItemTold.as_view(), name="api-v1-item-told"),
    path(store + "items/<sku:code>/ledger/", v1.ItemLedger.as_view(), name="api-v1-item-ledger"),
    path(store + "items/<sku:code>/", v1.ItemDetail.as_view(), name="api-v1-item"),
    path(store + "stock/", v1.StockBatch.as_view(), name="api-v1-stock"),
    path(store + "imports/", v1_imports.ImportListCreate.as_view(), name="api-v1-imports"),
    path(store + "imports/<int:job_id>/", v1_imports.ImportDetail.as_view(), name="api-v1-import"),
    path(store + "imports/<int:job_id>/errors/", v1_imports.ImportErrors.as_view(),
         name="api-v1-import-errors"),
    path(store + "imports/<int:job_id>/warnings/", v1_imports.ImportWarnings.as_view(),
         name="api-v1-import-warnings"),
    path(store + "imports/<int:job_id>/preview/", v1_imports.ImportPreview.as_view(),
         name="api-v1-import-preview"),
    path(store + "imports/<int:job_id>/apply/", v1_imports.ImportApply.as_view(), name="api-v1-import-apply"),
    path(store + "imports/<int:job_id>/undo/", v1_imports.ImportUndo.as_view(), name="api-v1-import-undo"),
    *orders.urlpatterns,
]

v2_patterns = [
    re_path(r"^v2/test/?$", v2.TestView.as_view(), name="api-v2-test"),
    re_path(r"^v2/inventory-items/?$", v2.InventoryItemsView.as_view(), name="api-v2-items"),
    re_path(r"^v2/inventory-items/(?P<item_id>[^/]+)/?$", v2.InventoryItemView.as_view(), name="api-v2-item"),
    re_path(r"^v2/batch-inventory-items/?$", v2.BatchInventoryItemsView.as_view(), name="api-v2-batch"),
    re_path(r"^v2/", v2.NotFoundView.as_view(), name="api-v2-unknown"),
]

urlpatterns = [
    *v1_patterns,
    *v2_patterns,
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", docs.SwaggerView.as_view(), name="api-docs"),
    path("docs/assets/<str:filename>", docs.swagger_asset, name="api-docs-asset"),
]
