"""The admin for stores, items, item metadata and the stock ledger.

The admin is a thin face: stock is changed by :mod:`inventory.services` (the
same functions the API and the command line call), what carts are told comes
from :mod:`inventory.selectors`, and metadata is judged by
``services.validate_metadata``.  Nothing here writes ``stock`` or decides a
rule, so the admin can never disagree with the other ways in.

Store scoping sits on top of Django's model permissions: a staff user needs the
usual permission for a model *and* a membership of the object's store.
Members with the viewer role see a store but change nothing in it; editors may
change it; superusers see and change every store.  Objects of other stores are
404, and foreign-key choices only offer stores the user may write to.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import get_valid_filename

from . import charts, dashboard, explain, permissions, rules, selectors, services
from .forms import InventoryItemForm, ItemMetadataFormSet, SetMetadataForm, StoreForm
from .models import InventoryItem, ItemMetadata, StockLedgerEntry, Store, StoreMembership

# What a cart that supports replaced SKUs is told: the admin's "told" column.
DEFAULT_CART = rules.Cart()
RECENT_LEDGER_ROWS = 15
# The item page's chart: changes of the last CHART_DAYS days, at most CHART_ENTRIES of them.
CHART_DAYS = 90
CHART_ENTRIES = 200
MINUS = "\u2212"  # a real minus sign: "−3" reads better than "-3" beside "→"

# The import template's columns (imports.reading.TEMPLATE_HEADERS): an export
# in this shape imports back as it is.  Kept here because ``inventory`` does not
# import ``imports``; the imports admin tests check the two agree.
EXPORT_HEADERS = ("sku", "quantity", "location", "name")

CSS = {"all": ("inventory/admin.css",)}
# The item fields the admin form edits directly (stock goes through the services).
ITEM_DETAIL_FIELDS = ("code", "name", "location", "price", "cost", "weight")


# The front page: a dashboard per store (inventory.dashboard) above the model list.
admin.site.index_template = "admin/inventory/index.html"
admin.site.site_header = "Inventory hub"
admin.site.site_title = "Inventory hub"
admin.site.index_title = "Your stores at a glance"


# --- store scoping -----------------------------------------------------------


def visible_store_ids(request) -> frozenset[int]:
    """Ids of the stores ``request.user`` may see (cached for the request)."""
    ids = getattr(request, "_hub_visible_store_ids", None)
    if ids is None:
        ids = frozenset(selectors.visible_stores(request.user).values_list("pk", flat=True))
        request._hub_visible_store_ids = ids
    return ids


def editable_store_ids(request) -> frozenset[int]:
    """Ids of the stores ``request.user`` may change (cached for the request)."""
    ids = getattr(request, "_hub_editable_store_ids", None)
    if ids is None:
        ids = frozenset(selectors.editable_stores(request.user).values_list("pk", flat=True))
        request._hub_editable_store_ids = ids
    return ids


def forget_store_ids(request) -> None:
    """Drop the cached ids after memberships changed within the request."""
    for name in ("_hub_visible_store_ids", "_hub_editable_store_ids"):
        if hasattr(request, name):
            delattr(request, name)
    permissions.forget_permissions(request.user)


def formfield_store_queryset(request):
    """Stores offered in a form: only those the user may write to."""
    return selectors.editable_stores(request.user).order_by("name")


class StoreScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose objects belong to a store.

    ``store_path`` is the ORM path from the model to its store.  Lists and
    lookups are limited to visible stores; change and delete also need the
    editor role in the object's store.  An object of another store is 404 (not
    Django's "perhaps it was deleted" redirect), so ids reveal nothing.
    """

    store_path = "store"

    def store_id_of(self, obj) -> int | None:
        target = obj
        parts = self.store_path.split("__")
        for part in parts[:-1]:
            target = getattr(target, part)
        return getattr(target, f"{parts[-1]}_id") if parts[-1] != "pk" else target.pk

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.store_path}__in": visible_store_ids(request)})

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with id {object_id} in your stores.")
        return obj

    def may_change_store_of(self, request, obj) -> bool:
        return request.user.is_superuser or self.store_id_of(obj) in editable_store_ids(request)

    def has_view_permission(self, request, obj=None):
        if not super().has_view_permission(request, obj):
            return False
        return obj is None or request.user.is_superuser or self.store_id_of(obj) in visible_store_ids(request)

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        if obj is None:
            return request.user.is_superuser or bool(editable_store_ids(request))
        return self.may_change_store_of(request, obj)

    def has_delete_permission(self, request, obj=None):
        if not super().has_delete_permission(request, obj):
            return False
        if obj is None:
            return request.user.is_superuser or bool(editable_store_ids(request))
        return self.may_change_store_of(request, obj)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and (
            request.user.is_superuser or bool(editable_store_ids(request))
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Store:
            kwargs["queryset"] = formfield_store_queryset(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class StoreScopedInline:
    """Inline rows are changed with their parent: the parent's store decides.

    ``parent_store_id`` gives the store of the parent object (None when adding).
    """

    def parent_store_id(self, obj):
        return obj.store_id

    def _may_change(self, request, obj):
        if request.user.is_superuser:
            return True
        if obj is None or obj.pk is None:
            return bool(editable_store_ids(request))
        return self.parent_store_id(obj) in editable_store_ids(request)

    def has_add_permission(self, request, obj):
        return super().has_add_permission(request, obj) and self._may_change(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_change(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_change(request, obj)


class ScopedStoreFilter(admin.RelatedFieldListFilter):
    """Filter by store, offering only the stores the user may see."""

    def field_choices(self, field, request, model_admin):
        return [(store.pk, str(store)) for store in selectors.visible_stores(request.user).order_by("name")]


# --- stores ------------------------------------------------------------------


class StoreMembershipInline(StoreScopedInline, admin.TabularInline):
    model = StoreMembership
    extra = 0
    fields = ["user", "role"]
    verbose_name = "member"
    verbose_name_plural = "Members (staff who may see this store)"

    def parent_store_id(self, obj):
        return obj.pk

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            # Staff accounts (the admin is for staff), plus whoever is a member
            # already, so an existing row never fails as "not a valid choice".
            wanted = Q(is_staff=True, is_active=True)
            object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            if object_id and str(object_id).isdigit():
                wanted |= Q(store_memberships__store_id=int(object_id))
            kwargs["queryset"] = get_user_model().objects.filter(wanted).distinct().order_by("username")
            kwargs["help_text"] = "Staff accounts only (the admin is for staff)."
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Store)
class StoreAdmin(StoreScopedAdmin):
    form = StoreForm
    store_path = "pk"
    inlines = [StoreMembershipInline]
    list_display = ["name", "slug", "api_store_id", "item_count", "member_count", "inventory_source",
                    "sync_paused", "time_zone"]
    list_filter = ["sync_paused"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["api_store_id", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "api_store_id", "time_zone"]}),
        (
            "Stock rules",
            {
                "fields": ["reduce_stock_on_order_import", "restock_on_cancel", "inventory_source"],
                "description": "How orders change stock, and whether this store shares another "
                "store's stock (one physical stock behind several storefronts).",
            },
        ),
        ("Syncing", {"fields": ["sync_paused"]}),
        (
            "Low-stock mail",
            {"fields": ["low_stock_recipients", "low_stock_threshold", "low_stock_digest_hour"]},
        ),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    class Media:
        css = CSS

    def store_id_of(self, obj):
        return obj.pk

    @admin.display(description="store id (API v2)", ordering="pk")
    def api_store_id(self, obj):
        """The number v2 clients send as ``ORDERDESK-STORE-ID``."""
        return obj.pk if obj and obj.pk else "—"

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("inventory_source")
        return queryset.annotate(
            _items=Count("items", filter=Q(items__archived_at__isnull=True), distinct=True),
            _members=Count("memberships", distinct=True),
        )

    def has_add_permission(self, request):
        # A new store has no members yet; its creator becomes its first editor.
        return admin.ModelAdmin.has_add_permission(self, request)

    @admin.display(description="items", ordering="_items")
    def item_count(self, obj):
        count = getattr(obj, "_items", None)
        if count is None:
            return "–"
        url = reverse("admin:inventory_inventoryitem_changelist") + f"?store__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, count)

    @admin.display(description="members", ordering="_members")
    def member_count(self, obj):
        return getattr(obj, "_members", "–")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "inventory_source":
            # Stores the user may write to, plus the current source (set by someone
            # else, perhaps), so saving other settings does not fail on it.
            wanted = Q(pk__in=editable_store_ids(request))
            object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            if object_id and str(object_id).isdigit():
                current = Store.objects.filter(pk=int(object_id)).values_list("inventory_source", flat=True)
                wanted |= Q(pk__in=[pk for pk in current if pk])
            queryset = Store.objects.filter(wanted).order_by("name")
            if object_id and str(object_id).isdigit():
                queryset = queryset.exclude(pk=int(object_id))
            kwargs["queryset"] = queryset
            return admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and not request.user.is_superuser:
            StoreMembership.objects.get_or_create(
                store=obj, user=request.user, defaults={"role": StoreMembership.EDITOR}
            )
            forget_store_ids(request)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        forget_store_ids(request)


# --- items -------------------------------------------------------------------


class ArchivedFilter(admin.SimpleListFilter):
    """Archived (deleted) items are hidden unless asked for: they are history, not stock."""

    title = "status"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("no", "Active"), ("yes", "Archived"), ("all", "All")]

    def choices(self, changelist):
        value = self.value() or "no"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: lookup} if lookup != "no" else {},
                    [] if lookup != "no" else [self.parameter_name],
                ),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value == "yes":
            return queryset.filter(archived_at__isnull=False)
        if value == "all":
            return queryset
        return queryset.filter(archived_at__isnull=True)


class StockLevelFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock_level"

    def lookups(self, request, model_admin):
        return [("oversold", "Below zero (oversold)"), ("low", "Low (at or below threshold)"),
                ("zero", "Zero"), ("some", "1 or more")]

    def queryset(self, request, queryset):
        return {
            "oversold": lambda: queryset.filter(stock__lt=0),
            "low": lambda: queryset.filter(dashboard.low_stock_q()),
            "zero": lambda: queryset.filter(stock=0),
            "some": lambda: queryset.filter(stock__gt=0),
        }.get(self.value(), lambda: queryset)()


class ItemMetadataInline(StoreScopedInline, admin.TabularInline):
    model = ItemMetadata
    formset = ItemMetadataFormSet
    fields = ["key", "value"]
    extra = 1
    verbose_name = "metadata entry"
    verbose_name_plural = "Metadata (safety levels, replaced SKUs, notes)"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "key":
            kwargs["widget"] = forms.TextInput(attrs={"list": "hub-metadata-keys", "size": 28})
            kwargs["help_text"] = "e.g. min, max, adjustment_percent, skip_push, code_replace, max@amazon-us"
        if db_field.name == "value":
            kwargs["widget"] = forms.TextInput(attrs={"size": 40})
            kwargs["help_text"] = "An empty value removes the key."
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def parent_store_id(self, obj):
        return obj.store_id

    def _may_change(self, request, obj):
        if obj is not None and obj.pk is not None and obj.archived_at is not None:
            return False
        return super()._may_change(request, obj)


class ItemChangeList(ChangeList):
    """Computes the "told" column for the whole page at once, not per row."""

    def get_results(self, request):
        super().get_results(request)
        self.model_admin.attach_told(list(self.result_list))


def _signed(delta: int) -> str:
    return f"+{delta}" if delta > 0 else (f"{MINUS}{-delta}" if delta < 0 else "±0")


def _reference_link(reference: str):
    """Link "import:12" to that import's page; other references stay text."""
    kind, _, ident = reference.partition(":")
    if kind == "import" and ident.isdigit():
        try:
            return format_html('<a href="{}">{}</a>', reverse("admin:imports_importjob_change", args=[ident]),
                               reference)
        except NoReverseMatch:
            pass
    return reference


@admin.register(InventoryItem)
class InventoryItemAdmin(StoreScopedAdmin):
    form = InventoryItemForm
    inlines = [ItemMetadataInline]
    list_display = ["code", "name", "store", "stock_column", "told_column", "location", "updated_at"]
    list_display_links = ["code", "name"]
    list_filter = [ArchivedFilter, ("store", ScopedStoreFilter), StockLevelFilter, "update_source"]
    list_select_related = ["store"]
    search_fields = ["code", "name"]
    search_help_text = "Search by SKU or name."
    list_per_page = 100
    actions = ["set_metadata_action", "export_csv_action", "export_xlsx_action", "archive_action"]
    delete_confirmation_template = "admin/inventory/inventoryitem/archive_confirmation.html"
    change_form_template = "admin/inventory/inventoryitem/change_form.html"

    class Media:
        css = CSS

    # -- lists

    def get_changelist(self, request, **kwargs):
        return ItemChangeList

    def attach_told(self, items) -> None:
        """Set ``_told`` on each item: one selector call per store on the page."""
        by_store = defaultdict(list)
        for item in items:
            by_store[item.store_id].append(item)
        for group in by_store.values():
            told = selectors.told_quantities(group[0].store, group, DEFAULT_CART)
            for item in group:
                item._told = told[item.pk]

    def _told(self, obj):
        if not hasattr(obj, "_told"):
            self.attach_told([obj])
        return obj._told

    @admin.display(description="stock", ordering="stock")
    def stock_column(self, obj):
        if obj.stock < 0:
            return format_html('<span class="hub-oversold" title="Oversold">{}</span>', obj.stock)
        return obj.stock

    @admin.display(description="told")
    def told_column(self, obj):
        told = self._told(obj)
        if told.quantity is None:
            reason = told.error or (told.steps[-1].note if told.steps else "")
            css = "hub-error" if told.error else "hub-muted"
            return format_html('<span class="{}" title="{}">not sent</span>', css, reason)
        if told.quantity != max(obj.stock, 0):
            return format_html('<span title="{}">{}</span>', " ".join(step.note for step in told.steps),
                               told.quantity)
        return told.quantity

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # -- the item page

    def get_fieldsets(self, request, obj=None):
        details = (None, {"fields": ["store", "code", "name", "location"]})
        money = ("Price and weight", {"fields": [("price", "cost", "weight")], "classes": ["collapse"]})
        if obj is None:
            return [details, ("Stock", {"fields": ["set_stock_to", "stock_note"]}), money]
        stock_fields = ["stock_column", "update_source"]
        if self.has_change_permission(request, obj):
            stock_fields += [("set_stock_to", "adjust_by"), "stock_note"]
        return [
            details,
            ("Stock", {"fields": stock_fields}),
            (
                "What carts are told",
                {
                    "fields": ["told_explanation"],
                    "description": "For a cart that can receive replaced SKUs, from the stock and the "
                    "metadata below (min, adjustment_percent, max, skip_push, code_replace).",
                },
            ),
            (
                "Stock history",
                {
                    "fields": ["stock_chart", "recent_changes"],
                    "description": "Every change of the stock, with where it came from. Point at a dot "
                    "in the chart to see the change.",
                },
            ),
            money,
            ("Record", {"fields": ["created_at", "updated_at", "archived_at"], "classes": ["collapse"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = ["stock_column", "update_source", "told_explanation", "stock_chart", "recent_changes",
                  "created_at", "updated_at", "archived_at"]
        if obj is not None:
            fields.append("store")  # moving an item would move its history with it
        return fields

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.archived_at is not None:
            return False  # archived items are history: shown, not edited
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.archived_at is not None:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="explanation")
    def told_explanation(self, obj):
        told = selectors.told_quantities(obj.store, [obj], DEFAULT_CART)[obj.pk]
        carts = explain.carts_for(obj.store)
        per_cart = []
        if carts:
            for info in carts:
                cart_told = selectors.told_quantities(obj.store, [obj], info.cart)[obj.pk]
                per_cart.append({"slug": info.label, "told": cart_told, "sync_on": info.sync_on})
        else:
            slugs = sorted({
                slug for key in obj.metadata.values_list("key", flat=True)
                if (slug := rules.split_key(key)[1])
            })
            for slug in slugs:
                cart_told = selectors.told_quantities(obj.store, [obj], rules.Cart(slug=slug))[obj.pk]
                per_cart.append({"slug": slug, "told": cart_told, "sync_on": True})
        return render_to_string(
            "admin/inventory/inventoryitem/told_explanation.html",
            {"told": told, "per_cart": per_cart, "item": obj, "notes": explain.notes_for(obj.store, obj.code),
             "named_carts": bool(carts)},
        )

    @admin.display(description=f"last {CHART_DAYS} days")
    def stock_chart(self, obj):
        """The ledger as a chart: the last CHART_DAYS days, at most CHART_ENTRIES changes, one query."""
        entries = list(StockLedgerEntry.objects.filter(item=obj).select_related("user")[:CHART_ENTRIES])
        if not entries:
            return format_html('<p class="hub-muted">{}</p>', "No stock changes yet.")
        now = timezone.now()
        recent = [entry for entry in entries if entry.created_at >= now - timedelta(days=CHART_DAYS)]
        if recent:
            shown = recent
            note = f"The latest {CHART_ENTRIES} changes are drawn." if len(recent) == CHART_ENTRIES else ""
        else:
            shown = entries[:1]
            note = f"No change in the last {CHART_DAYS} days: the stock since the latest change is drawn."
        changes = [
            charts.Change(
                at=timezone.localtime(entry.created_at),
                delta=entry.delta,
                stock_after=entry.stock_after,
                source=entry.source,
                label=entry.get_source_display(),
                detail=" · ".join(
                    part for part in (entry.reference, str(entry.user or ""), entry.note) if part
                ),
            )
            for entry in shown
        ]
        svg = charts.stock_history_svg(changes, now=timezone.localtime(now), caption=f"Stock of {obj.code}")
        # charts escapes every text it writes, so its markup is safe as it is.
        return format_html('<div class="hub-chart-box">{}</div>{}', mark_safe(svg),  # noqa: S308
                           format_html('<p class="hub-muted">{}</p>', note) if note else "")

    @admin.display(description="last changes")
    def recent_changes(self, obj):
        entries = list(
            StockLedgerEntry.objects.filter(item=obj).select_related("user")[:RECENT_LEDGER_ROWS]
        )
        rows = [
            {
                "entry": entry,
                "delta": _signed(entry.delta),
                "css": "hub-up" if entry.delta > 0 else "hub-down",
                "reference": _reference_link(entry.reference) if entry.reference else "",
            }
            for entry in entries
        ]
        url = reverse("admin:inventory_stockledgerentry_changelist") + f"?item__id__exact={obj.pk}"
        return render_to_string(
            "admin/inventory/inventoryitem/recent_changes.html",
            {"rows": rows, "all_url": url, "limit": RECENT_LEDGER_ROWS},
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["metadata_keys"] = sorted(rules.KNOWN_KEYS)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- saving: details here, stock and metadata through the services

    def save_model(self, request, obj, form, change):
        stock_change = form.stock_change
        note = form.cleaned_data.get("stock_note", "")
        if not change:
            row = {field: getattr(obj, field) for field in ITEM_DETAIL_FIELDS}
            if stock_change is not None:
                row["stock"] = stock_change[1]
            ids = services.create_items(obj.store, [row], source=StockLedgerEntry.ADMIN, user=request.user)
            obj.pk = ids[obj.code.strip()]
            obj._state.adding = False
            obj.refresh_from_db()
            return
        # Only the edited details: a full save would write back the stock read
        # when the form was loaded, losing any change made meanwhile.
        fields = [name for name in form.changed_data if name in ITEM_DETAIL_FIELDS]
        if fields:
            obj.save(update_fields=[*fields, "updated_at"])
        if stock_change is None:
            return
        kind, value = stock_change
        writer = services.set_item_stock if kind == "set" else services.adjust_item_stock
        result = writer(obj, value, source=StockLedgerEntry.ADMIN, user=request.user, note=note)
        if result is None:
            self.message_user(request, f"The stock of {obj.code} was already {obj.stock}; nothing recorded.",
                              messages.INFO)
        else:
            self.message_user(
                request,
                f"Stock of {obj.code}: {result.before} → {result.after} ({_signed(result.delta)}), "
                f"recorded in the stock history.",
                messages.SUCCESS,
            )
        ignored = selectors.counts_carts_ignore(obj.store, [(obj.pk, obj.code)]).get(obj.pk)
        if ignored:  # the same warning as the API's
            self.message_user(request, ignored, messages.WARNING)

    def save_formset(self, request, form, formset, change):
        if formset.model is not ItemMetadata:
            return super().save_formset(request, form, formset, change)
        item = form.instance
        before = {entry.key: entry for entry in item.metadata.all()}
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            after = services.set_metadata(item, formset.wanted(), replace=True)
        except ValidationError as exc:
            self.message_user(request, "Metadata was not saved: " + " ".join(exc.messages), messages.ERROR)
            return None
        formset.new_objects = [
            ItemMetadata(item=item, key=k, value=v) for k, v in after.items() if k not in before
        ]
        formset.changed_objects = [
            (before[k], ["value"]) for k, v in after.items() if k in before and before[k].value != v
        ]
        formset.deleted_objects = [entry for k, entry in before.items() if k not in after]
        return None

    # -- delete means archive

    def get_deleted_objects(self, objs, request):
        """Nothing is deleted: the item is archived and its ledger stays."""
        objs = list(objs)
        return [str(obj) for obj in objs], {self.opts.verbose_name_plural: len(objs)}, set(), []

    def delete_model(self, request, obj):
        services.archive_item(obj)

    def delete_queryset(self, request, queryset):
        for item in queryset.filter(archived_at__isnull=True):
            services.archive_item(item)

    def response_delete(self, request, obj_display, obj_id):
        self.message_user(
            request,
            f"{obj_display} was archived: it no longer shows in lists or syncs, its stock history is "
            f"kept, and its SKU is free for a new item.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:inventory_inventoryitem_changelist"))

    # -- bulk actions

    def _editable_split(self, request, queryset):
        items = list(queryset.select_related("store").filter(archived_at__isnull=True))
        if request.user.is_superuser:
            return items, []
        allowed = editable_store_ids(request)
        return [i for i in items if i.store_id in allowed], [i for i in items if i.store_id not in allowed]

    @admin.action(description="Archive selected items", permissions=["delete"])
    def archive_action(self, request, queryset):
        items, refused = self._editable_split(request, queryset)
        if request.POST.get("post") == "yes":
            if items:
                self.log_deletions(request, queryset.filter(pk__in=[item.pk for item in items]))
            for item in items:
                services.archive_item(item)
            self.message_user(
                request,
                f"{len(items)} item{'s' if len(items) != 1 else ''} archived; their stock history is kept.",
                messages.SUCCESS,
            )
            if refused:
                self.message_user(request, self._refused_text(refused), messages.WARNING)
            return None
        return TemplateResponse(
            request,
            "admin/inventory/inventoryitem/archive_selected.html",
            {**self.admin_site.each_context(request), "opts": self.opts, "items": items,
             "refused": refused, "action_checkbox_name": ACTION_CHECKBOX_NAME,
             "title": "Archive items"},
        )

    @staticmethod
    def _refused_text(refused) -> str:
        codes = ", ".join(item.code for item in refused[:20])
        more = f" and {len(refused) - 20} more" if len(refused) > 20 else ""
        return f"Left alone (you may only view their store): {codes}{more}."

    @admin.action(description="Set metadata on selected items", permissions=["change"])
    def set_metadata_action(self, request, queryset):
        items, refused = self._editable_split(request, queryset)
        form = SetMetadataForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            key, value = form.cleaned_data["key"], form.cleaned_data["value"]
            done, problems = 0, []
            for item in items:
                try:
                    services.set_metadata(item, {key: value})
                except ValidationError as exc:
                    problems.append(f"{item.code}: {' '.join(exc.messages)}")
                else:
                    done += 1
            what = f"Removed {key} from" if not value.strip() else f"Set {key} = {value} on"
            self.message_user(request, f"{what} {done} item{'s' if done != 1 else ''}.",
                              messages.SUCCESS if done else messages.WARNING)
            if problems:
                shown = problems[:20]
                more = f" … and {len(problems) - 20} more." if len(problems) > 20 else ""
                self.message_user(
                    request,
                    f"{len(problems)} item{'s' if len(problems) != 1 else ''} refused it: "
                    + " | ".join(shown) + more,
                    messages.ERROR,
                )
            if refused:
                self.message_user(request, self._refused_text(refused), messages.WARNING)
            return None
        return TemplateResponse(
            request,
            "admin/inventory/inventoryitem/set_metadata.html",
            {**self.admin_site.each_context(request), "opts": self.opts, "form": form, "items": items,
             "refused": refused, "action_checkbox_name": ACTION_CHECKBOX_NAME,
             "metadata_keys": sorted(rules.KNOWN_KEYS), "title": "Set metadata on items"},
        )

    @admin.action(description="Export selected as CSV (import template columns)", permissions=["view"])
    def export_csv_action(self, request, queryset):
        return spreadsheet_response(export_rows(queryset), "stock-export", "csv", sku_column=0)

    @admin.action(description="Export selected as XLSX (import template columns)", permissions=["view"])
    def export_xlsx_action(self, request, queryset):
        return spreadsheet_response(export_rows(queryset), "stock-export", "xlsx", sku_column=0)


# --- ledger ------------------------------------------------------------------


@admin.register(StockLedgerEntry)
class StockLedgerEntryAdmin(StoreScopedAdmin):
    """The stock history: read by everyone who sees the store, written only by the services."""

    store_path = "item__store"
    list_display = ["created_at", "item_link", "store_name", "delta_column", "stock_after", "source",
                    "reference_column", "user", "note"]
    list_filter = ["source", ("item__store", ScopedStoreFilter)]
    list_select_related = ["item__store", "user"]
    search_fields = ["item__code", "reference"]
    search_help_text = "Search by SKU or reference (e.g. import:12)."
    date_hierarchy = "created_at"
    list_per_page = 100
    fields = ["item_link", "store_name", "delta_column", "stock_after", "source", "reference_column",
              "user", "note", "created_at"]
    readonly_fields = fields

    class Media:
        css = CSS

    def store_id_of(self, obj):
        return obj.item.store_id

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="item", ordering="item__code")
    def item_link(self, obj):
        return format_html('<a href="{}">{}</a>',
                           reverse("admin:inventory_inventoryitem_change", args=[obj.item_id]), obj.item.code)

    @admin.display(description="store", ordering="item__store__name")
    def store_name(self, obj):
        return obj.item.store.name

    @admin.display(description="change", ordering="delta")
    def delta_column(self, obj):
        return format_html('<span class="{}">{}</span>', "hub-up" if obj.delta > 0 else "hub-down",
                           _signed(obj.delta))

    @admin.display(description="reference", ordering="reference")
    def reference_column(self, obj):
        return _reference_link(obj.reference) if obj.reference else ""


# --- spreadsheets out ----------------------------------------------------------

# Cells a spreadsheet program may run as a formula when a CSV is opened.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_rows(queryset):
    """The selected items as import-template rows: sku, quantity, location, name."""
    yield list(EXPORT_HEADERS)
    items = queryset.order_by("store__name", "code").values_list("code", "stock", "location", "name")
    for code, stock, location, name in items.iterator(chunk_size=5000):
        yield [code, stock, location, name]


def guard_csv_cell(value, *, sku: bool = False):
    """Protect a CSV text cell against formula injection without breaking SKUs.

    A text cell starting with ``= + - @`` (or tab/CR) gets a leading apostrophe,
    the usual guard.  For SKUs that is safe on a round trip: the importer strips
    exactly one leading apostrophe from a SKU (design §6), so the SKU comes back
    byte for byte; for the same reason a SKU that itself starts with an
    apostrophe gets a second one.  Names and locations keep the guard's
    apostrophe if the CSV is imported again (the importer reads them as plain
    text): safety first; the XLSX export needs no guard (its cells are typed
    as text) and keeps them exact.  Numbers are written as numbers: ``-4`` is a
    count, not a formula.
    """
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(FORMULA_STARTS) or (sku and value.startswith("'")):
        return "'" + value
    return value


def guard_xlsx_sku(value: str) -> str:
    """An XLSX SKU cell is text already; only the importer's own guards need escaping."""
    if value.startswith("'") or value.startswith('="'):
        return "'" + value
    return value


def spreadsheet_response(rows, basename: str, kind: str, *, sku_column: int | None = 0):
    """A download of ``rows`` (first row: headers) as CSV (UTF-8 with BOM) or XLSX.

    Shared by the item export and the import template, so both write SKUs the
    way the importer reads them back.
    """
    filename = get_valid_filename(basename)
    if kind == "csv":
        def lines():
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            buffer.write("\ufeff")  # Excel needs the BOM to read UTF-8; the importer ignores it
            for index, row in enumerate(rows):
                if index:
                    row = [guard_csv_cell(cell, sku=(col == sku_column)) for col, cell in enumerate(row)]
                writer.writerow(row)
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
        return response
    if kind != "xlsx":
        raise Http404("Unknown file type.")
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Stock")
    bold = Font(bold=True)
    for index, row in enumerate(rows):
        cells = []
        for col, value in enumerate(row):
            if index and col == sku_column and isinstance(value, str):
                value = guard_xlsx_sku(value)
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text, never a formula, whatever it starts with
            if col == sku_column:
                cell.number_format = "@"  # keeps leading zeros if the SKU is edited in Excel
            if not index:
                cell.font = bold
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    return response


# The API token and order admins live beside their models; importing them here registers them.
from inventory import admin_orders  # noqa: E402,F401
from inventory.api import admin as api_admin  # noqa: E402,F401
