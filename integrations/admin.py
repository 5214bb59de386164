"""Admin for integrations, their runs and per-item push state.

Buttons call :mod:`integrations.services` (the same functions the tasks and
commands call).  Credentials are write-only here: staff type them in, and the
page only ever shows which keys are stored with their last four characters.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from inventory import dashboard
from inventory.admin import CSS, ScopedStoreFilter, StoreScopedAdmin, visible_store_ids

from . import services
from .adapters import ADAPTERS
from .adapters.base import AdapterError
from .models import Integration, PushState, SyncRun

# Stores up to this size sync inside the request ("Sync now"); larger ones on the cluster.
SYNC_IN_REQUEST_ITEMS = 5000
# Item errors shown on a run's row and on the integration page; the rest are a click away.
ERRORS_SHOWN = 5
ITEM_ERRORS_SHOWN = 20
# Counts that are spelled out separately where runs are shown (the item errors themselves).
SKIP = ("item_errors",)


def counts_text(counts: dict, skip: tuple[str, ...] = ()) -> str:
    """A run's counts as words, zeros left out: "confirmed 2, failed 1"."""
    return dashboard.counts_text(counts, skip) or "nothing to do"


def run_result_text(run: SyncRun) -> str:
    """One line for a message: what ran, how it went, the counts, and where to look."""
    text = f"{run.get_kind_display()}: {run.get_status_display().lower()} ({counts_text(run.counts, SKIP)})"
    if run.message:
        text += f" — {run.message}"
    if run.item_errors:
        count = len(run.item_errors)
        text += f". {count} item error{'s are' if count != 1 else ' is'} listed under Recent runs."
    return text


def item_error_rows(errors, limit: int | None = None):
    shown = errors if limit is None else errors[:limit]
    return format_html_join(
        "",
        '<tr><td>{}</td><td class="hub-wrap">{}</td></tr>',
        ((e.get("sku") or "—", e.get("error", "")) for e in shown),
    )


def credential_help() -> str:
    lines = [f"{cls.display_name}: {', '.join(cls.credential_fields)}" for cls in ADAPTERS.values()]
    return "One key=value per line. Keys per service — " + "; ".join(sorted(lines)) + "."


class SecretTextarea(forms.Textarea):
    """A textarea that never writes its value back into the page (like a password
    box): a form shown again with an error does not echo typed secrets."""

    def format_value(self, value):
        return None


class IntegrationForm(forms.ModelForm):
    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=300,
        help_text="The service's address; empty = the service's usual one.",
    )
    credentials_text = forms.CharField(
        label="Credentials",
        required=False,
        widget=SecretTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text=credential_help() + " Leave empty to keep the stored ones.",
    )
    webhook_secret_text = forms.CharField(
        label="Webhook secret",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="The signing secret the cart shows for its webhooks. Leave empty to keep the stored one.",
    )

    class Meta:
        model = Integration
        fields = [
            "store",
            "kind",
            "role",
            "name",
            "slug",
            "base_url",
            "location_id",
            "location_name",
            "inventory_sync",
            "schedule_minutes",
            "reconcile_hours",
            "product_code_match",
            "options",
        ]

    def clean_credentials_text(self):
        text = self.cleaned_data["credentials_text"]
        if not text.strip():
            return None
        values = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if "=" not in line:
                raise forms.ValidationError(f"Line {number}: write key=value.")
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
        return values

    def clean(self):
        """Typed credentials, or else the stored ones, must be what the service takes
        (:func:`services.check_credentials`); stored ones with a key it does not take
        (saved before that check) have to be typed again."""
        cleaned = super().clean()
        kind = cleaned.get("kind")
        typed = cleaned.get("credentials_text")
        if kind in ADAPTERS:
            stored = self.instance.credentials if self.instance.pk else {}
            try:
                checked = services.check_credentials(kind, typed if typed is not None else stored)
            except ValidationError as exc:
                again = "" if typed is not None or not stored else " Type the credentials again."
                self.add_error("credentials_text", " ".join(exc.messages) + again)
            else:
                if typed is not None:
                    cleaned["credentials_text"] = checked
        return cleaned

    def save(self, commit=True):
        integration = super().save(commit=False)
        if self.cleaned_data.get("credentials_text") is not None:
            integration.credentials = self.cleaned_data["credentials_text"]
        if self.cleaned_data.get("webhook_secret_text"):
            integration.webhook_secret = self.cleaned_data["webhook_secret_text"]
        if commit:
            integration.save()
        return integration


class SyncRunInline(admin.TabularInline):
    model = SyncRun
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = ["started_at", "kind", "trigger", "status_badge", "counts_words", "message", "item_errors_list"]
    readonly_fields = fields
    verbose_name_plural = "Recent runs"

    @admin.display(description="status")
    def status_badge(self, obj):
        return format_html('<span class="hub-badge hub-badge-{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description="counts")
    def counts_words(self, obj):
        return counts_text(obj.counts, SKIP)

    @admin.display(description="item errors")
    def item_errors_list(self, obj):
        if not obj.item_errors:
            return "none"
        more = len(obj.item_errors) - ERRORS_SHOWN
        return format_html(
            '<table class="hub-table hub-run-errors"><thead><tr><th>SKU</th><th>What went wrong</th></tr>'
            "</thead><tbody>{}</tbody></table>{}",
            item_error_rows(obj.item_errors, ERRORS_SHOWN),
            format_html(
                '<a href="{}">{} more →</a>',
                reverse("admin:integrations_syncrun_change", args=[obj.pk]),
                more,
            )
            if more > 0
            else "",
        )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        recent = list(queryset.order_by("-started_at").values_list("pk", flat=True)[:10])
        return queryset.filter(pk__in=recent)


@admin.register(Integration)
class IntegrationAdmin(StoreScopedAdmin):
    form = IntegrationForm
    inlines = [SyncRunInline]
    list_display = [
        "name",
        "store",
        "kind",
        "role",
        "inventory_sync",
        "status_badge",
        "last_pull_at",
        "last_push_at",
    ]
    list_filter = [("store", ScopedStoreFilter), "kind", "role", "status", "inventory_sync"]
    search_fields = ["name", "slug"]
    readonly_fields = [
        "status",
        "last_error",
        "consecutive_failures",
        "stored_credentials",
        "webhook_url",
        "last_pull_at",
        "last_push_at",
        "last_reconcile_at",
        "last_orders_at",
        "first_push_confirmed",
        "items_with_errors",
    ]
    fieldsets = [
        (None, {"fields": ["store", "kind", "role", "name", "slug", "inventory_sync"]}),
        (
            "Health",
            {
                "fields": [
                    "status",
                    "first_push_confirmed",
                    "last_error",
                    "consecutive_failures",
                    "last_pull_at",
                    "last_push_at",
                    "last_reconcile_at",
                    "last_orders_at",
                    "items_with_errors",
                ]
            },
        ),
        (
            "Connection",
            {
                "fields": [
                    "base_url",
                    "credentials_text",
                    "stored_credentials",
                    "location_id",
                    "location_name",
                    "webhook_secret_text",
                    "webhook_url",
                    "options",
                ]
            },
        ),
        ("Schedule", {"fields": ["schedule_minutes", "reconcile_hours"]}),
        ("Fulfillment", {"fields": ["product_code_match"], "classes": ["collapse"]}),
    ]
    change_form_template = "admin/integrations/integration/change_form.html"

    # Fields whose change may make a cart accept what it refused (another account or location).
    CONNECTION_FIELDS = ("kind", "base_url", "credentials_text", "location_id", "options")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and set(form.changed_data) & set(self.CONNECTION_FIELDS):
            services.release_refused(obj)

    def get_fieldsets(self, request, obj=None):
        """Health first on an existing integration (what staff come to check); none before it exists."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return [fieldset for fieldset in fieldsets if fieldset[0] != "Health"]
        return fieldsets

    class Media:
        css = CSS

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        css = {"ok": "hub-up", "failing": "hub-down"}.get(obj.status, "hub-muted")
        return format_html('<span class="{}">{}</span>', css, obj.get_status_display())

    @admin.display(description="stored credentials")
    def stored_credentials(self, obj):
        masked = obj.masked_credentials() if obj.pk else {}
        if not masked:
            return "none yet: type them in the box above"
        return format_html(
            '{} <span class="hub-muted">(every value shows only its last 4 characters; they are kept when the '
            "box above is left empty)</span>",
            format_html_join(", ", "<code>{}={}</code>", masked.items()),
        )

    @admin.display(description="items with errors now")
    def items_with_errors(self, obj):
        if not obj.pk:
            return "—"
        states = list(
            PushState.objects.filter(integration=obj)
            .exclude(last_error="")
            .select_related("item")
            .order_by("-error_at", "-id")[: ITEM_ERRORS_SHOWN + 1]
        )
        if not states:
            return "none"
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td class="hub-wrap">{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:inventory_inventoryitem_change", args=[state.item_id]),
                    state.item.code,
                    state.last_error,
                    date_format(localtime(state.error_at), "SHORT_DATETIME_FORMAT") if state.error_at else "",
                )
                for state in states[:ITEM_ERRORS_SHOWN]
            ),
        )
        every = reverse("admin:integrations_pushstate_changelist") + f"?result=error&integration__id__exact={obj.pk}"
        return format_html(
            '<table class="hub-table"><thead><tr><th>SKU</th><th>What went wrong</th><th>When</th></tr>'
            '</thead><tbody>{}</tbody></table><a href="{}">{}</a>',
            rows,
            every,
            "All items with errors →" if len(states) > ITEM_ERRORS_SHOWN else "As a list →",
        )

    @admin.display(description="webhook address")
    def webhook_url(self, obj):
        if not obj.pk:
            return "shown after saving"
        return reverse("integrations:webhook", args=[obj.pk])

    def get_urls(self):
        custom = [
            path(
                "<int:pk>/test/",
                self.admin_site.admin_view(self.test_view),
                name="integrations_integration_test",
            ),
            path(
                "<int:pk>/sync/",
                self.admin_site.admin_view(self.sync_view),
                name="integrations_integration_sync",
            ),
            path(
                "<int:pk>/reconcile/",
                self.admin_site.admin_view(self.reconcile_view),
                name="integrations_integration_reconcile",
            ),
            path(
                "<int:pk>/confirm/",
                self.admin_site.admin_view(self.confirm_view),
                name="integrations_integration_confirm",
            ),
            path(
                "<int:pk>/products/",
                self.admin_site.admin_view(self.products_view),
                name="integrations_integration_products",
            ),
        ]
        return custom + super().get_urls()

    def _back(self, integration):
        return HttpResponseRedirect(reverse("admin:integrations_integration_change", args=[integration.pk]))

    def test_view(self, request, pk):
        """Check the credentials and list the cart's locations.

        Not read-only: it clears a failing status and may choose the location
        pushes write to, so like every button here it needs the right to change
        the integration (a store's viewers only look).
        """
        integration = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, integration):
            return self._back(integration)
        try:
            locations = services.test_connection(integration)
        except AdapterError as exc:
            self.message_user(request, f"Connection failed: {exc}", messages.ERROR)
            return self._back(integration)
        names = ", ".join(f"{loc.name} (id {loc.id})" for loc in locations) or "no locations listed"
        self.message_user(request, f"Connected to {integration.name}. Locations: {names}.", messages.SUCCESS)
        if len(locations) == 1 and not integration.location_id and integration.role == Integration.CART:
            Integration.objects.filter(pk=integration.pk).update(
                location_id=locations[0].id, location_name=locations[0].name
            )
            self.message_user(request, f"Pushes will write to {locations[0].name}.")
        return self._back(integration)

    def sync_view(self, request, pk):
        integration = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, integration):
            return self._back(integration)
        if integration.store.sync_paused:
            self.message_user(request, "Syncing is paused for this store.", messages.WARNING)
            return self._back(integration)
        if not integration.inventory_sync:
            self.message_user(request, "Turn on inventory sync first.", messages.WARNING)
            return self._back(integration)
        if integration.store.items.count() > SYNC_IN_REQUEST_ITEMS:
            from inventory.tasks import offload

            offload("integrations.tasks.sync_now", integration.pk)
            self.message_user(request, "Sync queued; its run appears below when it finishes.")
            return self._back(integration)
        runs = services.sync(integration, trigger="manual")
        return self._report_runs(request, integration, runs)

    def _report_runs(self, request, integration, runs):
        """One message per run, at its level; none means another run held the integration."""
        if not runs:
            self.message_user(request, "Another run of this integration is in progress.", messages.WARNING)
        for run in runs:
            level = {SyncRun.OK: messages.SUCCESS, SyncRun.PARTIAL: messages.WARNING}.get(run.status, messages.ERROR)
            self.message_user(request, run_result_text(run), level)
        return self._back(integration)

    def reconcile_view(self, request, pk):
        """A full reconcile now, then the push: corrects drift and sends again the items the cart
        refused (staff press it after fixing them at the cart, e.g. adding a missing SKU)."""
        integration = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, integration):
            return self._back(integration)
        if integration.role != Integration.CART or not integration.first_push_confirmed:
            self.message_user(request, "Only a cart whose first push is confirmed is reconciled.", messages.WARNING)
            return self._back(integration)
        if integration.store.sync_paused or not integration.inventory_sync:
            self.message_user(request, "Syncing is off for this cart or paused for its store.", messages.WARNING)
            return self._back(integration)
        runs = services.sync(integration, trigger="manual", reconcile_due=True, with_orders=False)
        return self._report_runs(request, integration, runs)

    def confirm_view(self, request, pk):
        integration = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method == "POST" and self.has_change_permission(request, integration):
            runs = services.confirm_first_push(integration, trigger="manual")
            self.message_user(request, "First push confirmed. " + " ".join(run_result_text(run) for run in runs))
        return self._back(integration)

    def products_view(self, request, pk):
        integration = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, integration):
            # Importing products creates items: for those who may change the store.
            self.message_user(request, "You can view this integration but not import its products.",
                              messages.WARNING)
            return self._back(integration)
        warning = services.product_import_warning(integration)
        if request.method == "POST":
            with_stock = request.POST.get("with_stock") == "1"
            try:
                run = services.import_products(
                    integration,
                    with_stock=with_stock,
                    confirmed=request.POST.get("confirmed") == "1",
                    user=request.user,
                )
            except ValueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return self._back(integration)
            self.message_user(request, run_result_text(run))
            return self._back(integration)
        context = {
            **self.admin_site.each_context(request),
            "integration": integration,
            "warning": warning,
            "opts": self.opts,
            "title": f"Import products from {integration.name}",
        }
        return TemplateResponse(request, "admin/integrations/integration/products.html", context)


@admin.register(SyncRun)
class SyncRunAdmin(StoreScopedAdmin):
    store_path = "integration__store"
    list_display = ["started_at", "integration", "kind", "trigger", "status", "counts_text", "finished_at"]
    list_filter = ["kind", "status", "trigger", ("integration__store", ScopedStoreFilter)]
    search_fields = ["integration__name", "message"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "integration",
        "kind",
        "trigger",
        "status",
        "started_at",
        "finished_at",
        "counts_text",
        "message",
        "item_error_table",
        "detail_table",
    ]
    exclude = ["item_errors", "details", "counts"]

    class Media:
        css = CSS

    def store_id_of(self, obj):
        return obj.integration.store_id

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="counts")
    def counts_text(self, obj):
        return counts_text(obj.counts)

    @admin.display(description="item errors")
    def item_error_table(self, obj):
        if not obj.item_errors:
            return "none"
        return format_html(
            '<table class="hub-table"><thead><tr><th>SKU</th><th>What went wrong</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            item_error_rows(obj.item_errors),
        )

    @admin.display(description="details")
    def detail_table(self, obj):
        if not obj.details:
            return "none"
        keys = list(dict.fromkeys(key for row in obj.details for key in row))
        head = format_html_join("", "<th>{}</th>", ((key,) for key in keys))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((row.get(key, ""),) for key in keys)),) for row in obj.details),
        )
        return format_html('<table class="hub-table"><tr>{}</tr>{}</table>', head, body)


class ScopedIntegrationFilter(admin.RelatedFieldListFilter):
    """Filter by integration, offering only those of stores the user may see."""

    def field_choices(self, field, request, model_admin):
        integrations = Integration.objects.select_related("store").order_by("store__name", "name")
        if not request.user.is_superuser:
            integrations = integrations.filter(store_id__in=visible_store_ids(request))
        return [(i.pk, f"{i.name} ({i.store.name})") for i in integrations]


class ErrorFilter(admin.SimpleListFilter):
    title = "push result"
    parameter_name = "result"

    def lookups(self, request, model_admin):
        return [("error", "With an error"), ("reconcile", "Marked for reconcile")]

    def queryset(self, request, queryset):
        if self.value() == "error":
            return queryset.exclude(last_error="")
        if self.value() == "reconcile":
            return queryset.filter(needs_reconcile=True)
        return queryset


@admin.register(PushState)
class PushStateAdmin(StoreScopedAdmin):
    store_path = "integration__store"
    list_display = ["item", "integration", "last_confirmed", "confirmed_at", "last_error", "needs_reconcile"]
    list_filter = [
        ErrorFilter,
        ("integration__store", ScopedStoreFilter),
        ("integration", ScopedIntegrationFilter),
    ]
    search_fields = ["item__code", "remote_id"]
    list_select_related = ["item", "integration"]

    class Media:
        css = CSS

    readonly_fields = [
        "integration",
        "item",
        "remote_id",
        "last_confirmed",
        "confirmed_at",
        "last_error",
        "error_at",
        "refused_quantity",
        "needs_reconcile",
    ]

    def store_id_of(self, obj):
        return obj.integration.store_id

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
