"""``/api/v1/``: stores, items with metadata, batch stock, told read-outs, the ledger.

Views are thin: they scope every query to the caller's stores (another
store's objects are 404, never 403), check types with a serializer, and call
the same services as the admin and the command line.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from inventory import explain, rules, selectors
from inventory.models import InventoryItem, Store

from . import serializers as api_serializers
from . import services
from .authentication import access_for
from .permissions import CanWriteStore

# Offsets beyond what a database accepts would be a server error, not a client one.
MAX_OFFSET = 2**62


class Pagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000

    def get_offset(self, request):
        return min(super().get_offset(request), MAX_OFFSET)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object is not in a state that allows this."
    default_code = "conflict"


def drf_error(exc: Exception) -> Exception:
    """Service exceptions as DRF responses: problems stay keyed as the service keyed them."""
    if isinstance(exc, services.Invalid):
        return exceptions.ValidationError(exc.errors)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(exc.message_dict)
        return exceptions.ValidationError({"detail": exc.messages})
    return exc


class ApiView(generics.GenericAPIView):
    permission_classes = [IsAuthenticated, CanWriteStore]
    pagination_class = Pagination

    def handle_exception(self, exc):
        return super().handle_exception(drf_error(exc))

    @property
    def access(self):
        return access_for(self.request)

    @property
    def schema_only(self) -> bool:
        return getattr(self, "swagger_fake_view", False)


class StoreScopedView(ApiView):
    """A view under ``stores/{slug}/``: the store must be one of the caller's."""

    def get_store(self):
        if not hasattr(self, "_store"):
            self._store = get_object_or_404(self.access.stores, slug=self.kwargs["slug"])
        return self._store

    def items(self):
        if self.schema_only:
            return InventoryItem.objects.none()
        return InventoryItem.objects.active().filter(store=self.get_store())

    def get_item(self):
        code = self.kwargs["code"].strip()
        return get_object_or_404(self.items().select_related("store").prefetch_related("metadata"), code=code)


# --- stores ------------------------------------------------------------------


class StoreList(ApiView, generics.ListAPIView):
    """The stores this key (or your staff membership) covers."""

    serializer_class = api_serializers.StoreSerializer

    def get_queryset(self):
        if self.schema_only:
            return Store.objects.none()
        return self.access.stores.order_by("name", "pk")


class StoreDetail(ApiView, generics.RetrieveAPIView):
    serializer_class = api_serializers.StoreSerializer
    lookup_field = "slug"

    def get_queryset(self):
        if self.schema_only:
            return Store.objects.none()
        return self.access.stores


# --- items ---------------------------------------------------------------------


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class ItemFilter(django_filters.FilterSet):
    code = django_filters.CharFilter(
        method="filter_code", help_text="Exact SKU, or several separated by commas."
    )
    search = django_filters.CharFilter(method="filter_search", help_text="Part of the SKU or name.")
    updated_since = django_filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Changed at or after (ISO 8601)."
    )
    stock_lt = IntegerFilter(field_name="stock", lookup_expr="lt", min_value=-(2**31), max_value=2**31)
    stock_gt = IntegerFilter(field_name="stock", lookup_expr="gt", min_value=-(2**31), max_value=2**31)

    class Meta:
        model = InventoryItem
        fields = []

    def filter_code(self, queryset, name, value):
        codes = [part.strip() for part in value.split(",") if part.strip()]
        return queryset.filter(code__in=codes) if codes else queryset

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value))


def item_fields(data: dict, *, full: bool) -> dict:
    """The detail fields to write; with ``full`` (PUT) an omitted field is cleared."""
    if not full:
        return {name: data[name] for name in services.DETAIL_FIELDS if name in data}
    blank = {"name": "", "price": None, "cost": None, "weight": None, "location": ""}
    return {name: data.get(name, empty) for name, empty in blank.items()}


class ItemListCreate(StoreScopedView, generics.ListCreateAPIView):
    """Items of one store with their metadata; filter by SKUs, text, time or stock."""

    serializer_class = api_serializers.ItemSerializer
    filterset_class = ItemFilter

    def get_queryset(self):
        return self.items().prefetch_related("metadata").order_by("code", "pk")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        item = services.create_item(
            self.get_store(), code=data["code"], details=item_fields(data, full=False),
            stock=data.get("stock"), metadata=data.get("metadata"),
            reference=self.access.reference, user=self.access.ledger_user,
        )
        item = self.items().prefetch_related("metadata").get(pk=item.pk)
        return Response(self.get_serializer(item).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH,
                                            description="The SKU.")])
class ItemDetail(StoreScopedView, generics.RetrieveUpdateDestroyAPIView):
    """One item by SKU.  PUT replaces the details and metadata (omitted ones are
    cleared; stock is left alone), PATCH changes only what it names, DELETE archives."""

    serializer_class = api_serializers.ItemSerializer

    def get_object(self):
        return self.get_item()

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        item = self.get_object()
        serializer = self.get_serializer(item, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "stock" in data and data["stock"] != item.stock:
            raise exceptions.ValidationError({"stock": [
                "Change stock with POST /api/v1/stores/{slug}/stock/ so the ledger records it; "
                "here it may only repeat the current count."
            ]})
        metadata = data.get("metadata")
        if metadata is None and not partial:
            metadata = {}
        item = services.update_item(
            item, code=data.get("code"), details=item_fields(data, full=not partial),
            metadata=metadata, replace_metadata=not partial,
            reference=self.access.reference, user=self.access.ledger_user,
        )
        item = self.items().prefetch_related("metadata").get(pk=item.pk)
        return Response(self.get_serializer(item).data)

    def perform_destroy(self, instance):
        services.archive_item(instance)


def cart_for(request, store) -> rules.Cart:
    """The cart whose view is explained: ``?integration=<slug>`` names one of the
    store's carts (its own ``@slug`` metadata and replaced-SKU support apply);
    without it, a cart that takes replaced SKUs and has no metadata of its own."""
    wanted = request.query_params.get("integration")
    if not wanted:
        return rules.Cart()
    for info in explain.carts_for(store):
        if info.cart.slug == wanted:
            return info.cart
    raise exceptions.NotFound(f"{store.name} has no cart integration '{wanted}'.")


@extend_schema(parameters=[
    OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH, description="The SKU."),
    OpenApiParameter("integration", OpenApiTypes.STR, OpenApiParameter.QUERY,
                     description="Explain for this cart integration (its slug)."),
])
class ItemTold(StoreScopedView):
    """What a cart is told for this item, and each step that led there."""

    serializer_class = api_serializers.ToldSerializer

    def get(self, request, *args, **kwargs):
        item = self.get_item()
        store = self.get_store()
        told = selectors.told_quantities(store, [item], cart_for(request, store))[item.pk]
        return Response(selectors.told_as_dict(item, told))


@extend_schema(parameters=[OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH,
                                            description="The SKU.")])
class ItemLedger(StoreScopedView, generics.ListAPIView):
    """Every stock change of the item, newest first; the deltas add up to its stock."""

    serializer_class = api_serializers.LedgerEntrySerializer

    def get_queryset(self):
        if self.schema_only:
            return InventoryItem.objects.none()
        return self.get_item().ledger.select_related("user").order_by("-created_at", "-id")


class StockBatch(StoreScopedView):
    """Set or add counts for many SKUs in one write, with problems reported per line index."""

    serializer_class = api_serializers.StockBatchSerializer

    @extend_schema(
        request=api_serializers.StockBatchDocSerializer,
        responses={
            200: api_serializers.StockBatchResultSerializer,
            400: OpenApiResponse(
                api_serializers.StockBatchResultSerializer,
                description="reject_all and at least one line was refused: nothing written.",
            ),
        },
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.apply_stock_batch(
            self.get_store(), data["items"], mode=data["mode"], on_error=data["on_error"],
            reference=self.access.reference, user=self.access.ledger_user,
        )
        code = status.HTTP_200_OK if result.applied else status.HTTP_400_BAD_REQUEST
        return Response(result.as_dict(), status=code)


class ApiRoot(generics.GenericAPIView):
    """Where to start: the endpoints a client needs first, with their full URLs."""

    permission_classes = []
    authentication_classes = []

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Where the API's endpoints are")
    def get(self, request):
        def url(path):
            return request.build_absolute_uri(path)

        return Response(
            {
                "stores": url("/api/v1/stores/"),
                "schema": url("/api/schema/"),
                "docs": url("/api/docs/"),
                "v2_inventory_items": url("/api/v2/inventory-items/"),
                "authentication": "Authorization: Token <key> (python manage.py create_api_token)",
            }
        )
