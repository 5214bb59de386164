"""The admin for orders: what each order asked for and what it did to stock.

Orders are read-only here.  Their stock effect is only ever changed by
:mod:`inventory.order_services` (a re-send, a cancel, a refund), because the
lines' ``taken`` and ``restocked`` counts are what keep an order from taking
stock off twice; editing or deleting them by hand would break that.  Staff see
the orders of the stores they are members of; superusers see all.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.http import Http404
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from . import selectors
from .models import InventoryItem, StockLedgerEntry
from .orders import Order, OrderLine

MINUS = "\u2212"
LEDGER_ROWS_SHOWN = 200


def _signed(delta: int) -> str:
    return f"+{delta}" if delta > 0 else (f"{MINUS}{-delta}" if delta < 0 else "±0")


def _visible_store_ids(request) -> frozenset[int]:
    ids = getattr(request, "_orders_visible_store_ids", None)
    if ids is None:
        ids = frozenset(selectors.visible_stores(request.user).values_list("pk", flat=True))
        request._orders_visible_store_ids = ids
    return ids


def ledger_url(order: Order) -> str:
    return reverse("admin:inventory_stockledgerentry_changelist") + "?" + urlencode(
        {"reference": order.reference}
    )


def _stock_items_of(order: Order) -> dict[int, InventoryItem]:
    """Every item the order's lines take from, loaded once per page (cached on the order)."""
    cached = getattr(order, "_admin_stock_items", None)
    if cached is None:
        ids = {item_id for line in order.lines.all() for item_id, _units in line.stock_items}
        cached = InventoryItem.objects.select_related("store").in_bulk(ids)
        order._admin_stock_items = cached
    return cached


class VisibleStoreFilter(admin.SimpleListFilter):
    """Filter by store, offering only the stores the user may see."""

    title = "store"
    parameter_name = "store"

    def lookups(self, request, model_admin):
        return [(store.pk, store.name) for store in selectors.visible_stores(request.user).order_by("name")]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(store_id=int(value))
        return queryset


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ["code", "quantity", "taken", "restocked", "off_stock", "takes_from", "problem"]
    readonly_fields = fields
    verbose_name = "line"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="off stock now")
    def off_stock(self, line):
        return line.off_stock

    @admin.display(description="one unit takes off")
    def takes_from(self, line):
        """The items each unit of the line comes from (a bundle names its components)."""
        if not line.stock_items:
            return "—"
        items = _stock_items_of(line.order)
        parts = []
        for item_id, units in line.stock_items:
            item = items.get(item_id)
            label = f"{item.code} ({item.store.slug})" if item else f"item {item_id}"
            parts.append((reverse("admin:inventory_inventoryitem_change", args=[item_id]), label, units))
        return format_html_join(", ", '<a href="{}">{}</a> ×{}', parts)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "external_id", "origin", "store", "status", "version", "takes_stock", "oversold", "line_count",
        "created_at", "updated_at",
    ]
    list_filter = ["status", "oversold", "takes_stock", VisibleStoreFilter, "origin"]
    search_fields = ["external_id", "origin", "lines__code"]
    search_help_text = "Search by order id, origin or a SKU on the order."
    list_select_related = ["store"]
    date_hierarchy = "created_at"
    list_per_page = 100
    inlines = [OrderLineInline]
    fields = [
        "store", "origin", "external_id", "version", "status", "takes_stock", "oversold", "cancelled_at",
        "created_at", "updated_at", "ledger_entries",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request).annotate(line_total=Count("lines"))
        if request.user.is_superuser:
            return queryset
        return queryset.filter(store_id__in=_visible_store_ids(request))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No order with id {object_id} in your stores.")
        return obj

    def has_view_permission(self, request, obj=None):
        if not super().has_view_permission(request, obj):
            return False
        return obj is None or request.user.is_superuser or obj.store_id in _visible_store_ids(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="lines", ordering="line_total")
    def line_count(self, order):
        return order.line_total

    @admin.display(description="effect on stock")
    def ledger_entries(self, order):
        """Every stock change the order made (taken off, put back), linked to the ledger."""
        entries = list(
            StockLedgerEntry.objects.filter(reference=order.reference)
            .select_related("item__store")
            .order_by("created_at", "id")[:LEDGER_ROWS_SHOWN]
        )
        if not entries:
            if order.takes_stock:
                return "No stock changes."
            return "None: the store did not reduce stock on order import when this order arrived."
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    entry.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    reverse("admin:inventory_inventoryitem_change", args=[entry.item_id]),
                    entry.item.code,
                    entry.item.store.slug,
                    entry.source,
                    _signed(entry.delta),
                    entry.stock_after,
                )
                for entry in entries
            ),
        )
        return format_html(
            '<table><thead><tr><th>when</th><th>SKU</th><th>store</th><th>source</th><th>change</th>'
            '<th>stock after</th></tr></thead><tbody>{}</tbody></table><p><a href="{}">'
            "All ledger entries of this order</a></p>",
            rows,
            ledger_url(order),
        )
