"""``POST /api/v1/stores/{slug}/orders/``: an order as the client knows it now.

The view only checks shapes and store access; :func:`inventory.order_services.record_order`
decides everything else, exactly as for orders pulled from carts, so an order
that arrives both ways is one order and takes stock off once.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from inventory import order_services
from inventory.orders import Order

from .v1 import StoreScopedView

MAX_ORDER_LINES = 1000
STATUS_CODES = [code for code, _label in Order.STATUSES]


class OrderLineInSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=255, help_text="The SKU as the cart sells it.")
    quantity = serializers.IntegerField(
        min_value=0, max_value=order_services.QUANTITY_LIMIT, help_text="Units ordered (0: removed)."
    )
    restocked = serializers.IntegerField(
        min_value=0,
        max_value=order_services.QUANTITY_LIMIT,
        required=False,
        allow_null=True,
        help_text="Units of this line the cart restocked so far (refunds with restock), as a running total.",
    )


class OrderInSerializer(serializers.Serializer):
    origin = serializers.CharField(
        max_length=100,
        help_text="Where the order was placed: the cart's integration slug when forwarding a cart's order, "
        "so the same order pulled from that cart is recognised; else your client's name.",
    )
    external_id = serializers.CharField(max_length=255, help_text="The order's id at its origin.")
    version = serializers.IntegerField(
        min_value=0,
        max_value=order_services.VERSION_LIMIT,
        required=False,
        allow_null=True,
        help_text="Larger is newer (a revision number or a timestamp); an older send changes nothing.",
    )
    status = serializers.ChoiceField(Order.STATUSES, default=Order.OPEN)
    lines = OrderLineInSerializer(
        many=True,
        required=False,
        allow_null=True,
        max_length=MAX_ORDER_LINES,
        help_text="The whole order: a SKU left out of a re-send is no longer ordered. "
        "Omit to keep the stored lines (a status update).",
    )


class OrderLineOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    quantity = serializers.IntegerField()
    taken = serializers.IntegerField(help_text="Units of this line off stock because of this order.")
    restocked = serializers.IntegerField(help_text="Units put back by refunds and cancels.")
    problem = serializers.CharField(help_text="Why the line took no stock, e.g. an unknown SKU.")


class StockChangeSerializer(serializers.Serializer):
    code = serializers.CharField()
    store = serializers.CharField(help_text="The store whose stock changed (a shared source's, maybe).")
    delta = serializers.IntegerField()
    stock_after = serializers.IntegerField()
    source = serializers.ChoiceField(["order", "cancel", "refund"])


class OrderResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    origin = serializers.CharField()
    external_id = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    # Plain text here: one enum for order status in the schema (the request's) keeps its name stable.
    status = serializers.CharField(help_text=f"One of {', '.join(STATUS_CODES)}.")
    created = serializers.BooleanField()
    stale = serializers.BooleanField(help_text="The send was older than the stored version: nothing changed.")
    takes_stock = serializers.BooleanField(
        help_text="Whether the order takes stock off (the store's setting when it was first seen)."
    )
    reference = serializers.CharField(help_text="The ledger reference of this order's stock changes.")
    lines = OrderLineOutSerializer(many=True)
    taken_off = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Units this request took off per SKU (negative: put back).",
    )
    stock_changes = StockChangeSerializer(many=True)
    unknown_codes = serializers.ListField(child=serializers.CharField())
    problems = serializers.DictField(child=serializers.CharField())
    oversold = serializers.ListField(
        child=serializers.CharField(), help_text="SKUs this request took below zero."
    )
    note = serializers.CharField(help_text="Why the order took no stock at all, when that is so.")


class OrderCreate(StoreScopedView):
    """Record an order; a re-send (by any route) is reconciled, never applied twice."""

    serializer_class = OrderInSerializer

    @extend_schema(
        request=OrderInSerializer,
        responses={
            201: OpenApiResponse(OrderResultSerializer, description="A new order."),
            200: OpenApiResponse(OrderResultSerializer, description="A known order, reconciled."),
        },
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lines = data.get("lines")
        if lines is not None:
            lines = [
                order_services.LineIn(line["code"], line["quantity"], line.get("restocked")) for line in lines
            ]
        result = order_services.record_order(
            self.get_store(),
            origin=data["origin"],
            external_id=data["external_id"],
            status=data["status"],
            version=data.get("version"),
            lines=lines,
            user=self.access.ledger_user,
        )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(result.as_dict(), status=code)


urlpatterns = [
    path("v1/stores/<slug:slug>/orders/", OrderCreate.as_view(), name="api-v1-orders"),
]
