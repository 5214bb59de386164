"""Admin for API keys: create a key for chosen stores and show it exactly once.

Only the key's hash is stored, so the page shown right after creation is the
only place the key ever appears; the list identifies keys by their prefix.
Staff see and grant only the stores they are members of (editors for keys that
may write), so nobody can mint a key for a store they cannot see.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import reverse

from inventory.models import ApiToken, Store
from inventory.selectors import editable_stores, visible_stores

from . import tokens

KEY_ONCE_TEMPLATE = """{% extends "admin/base_site.html" %}
{% block content %}
<div id="content-main">
  <p><strong>Copy this key now.</strong> Only its hash is kept: it is never shown again.
     If it is lost, create a new key and deactivate this one.</p>
  <p><code id="api-key" style="font-size: 1.3em; user-select: all;">{{ key }}</code></p>
  <p>Stores: {{ stores|join:", " }}{% if token.read_only %} (read only){% endif %}</p>
  <ul>
    <li><code>/api/v1/</code>: send <code>Authorization: Token &lt;key&gt;</code></li>
    <li><code>/api/v2/</code>: send <code>ORDERDESK-STORE-ID: &lt;store id&gt;</code>
        and <code>ORDERDESK-API-KEY: &lt;key&gt;</code>
        (store ids: {% for store in stores %}{{ store.name }} = {{ store.pk }}
        {% if not forloop.last %}, {% endif %}{% endfor %})</li>
  </ul>
  <p><a href="{{ change_url }}">Continue to the key's settings</a></p>
</div>
{% endblock %}
"""


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name", "stores", "read_only", "is_active"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if user is not None:
            self.fields["stores"].queryset = visible_stores(user).order_by("name")

    def clean(self):
        cleaned = super().clean()
        stores = cleaned.get("stores")
        if self.user is not None and stores is not None and not cleaned.get("read_only"):
            allowed = set(editable_stores(self.user).values_list("pk", flat=True))
            refused = [store.name for store in stores if store.pk not in allowed]
            if refused:
                raise forms.ValidationError(
                    f"You may only give read-only keys for {', '.join(refused)}: "
                    f"you cannot change stock there."
                )
        if stores is not None and not stores:
            self.add_error("stores", "A key needs at least one store.")
        return cleaned


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = [
        "name", "prefix_shown", "store_list", "read_only", "is_active", "created_at", "last_used_at",
    ]
    list_filter = ["is_active", "read_only"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix_shown", "created_by", "created_at", "last_used_at"]

    @admin.display(description="Key", ordering="prefix")
    def prefix_shown(self, token):
        return f"{token.prefix}…" if token.prefix else "—"

    @admin.display(description="Stores")
    def store_list(self, token):
        return ", ".join(store.name for store in token.stores.all())

    def get_queryset(self, request):
        queryset = super().get_queryset(request).prefetch_related("stores")
        if request.user.is_superuser:
            return queryset
        hidden = Store.objects.exclude(pk__in=visible_stores(request.user).values("pk"))
        return queryset.exclude(stores__in=hidden)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        user = request.user

        class ScopedForm(form_class):
            def __init__(self, *args, **inner):
                super().__init__(*args, user=user, **inner)

        return ScopedForm

    def get_fieldsets(self, request, obj=None):
        main = ["name", "stores", "read_only", "is_active"]
        if obj is None:
            return [(None, {"fields": main})]
        return [(None, {"fields": main}), ("Usage", {"fields": self.readonly_fields})]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            # Kept on the request only, for the one page that shows it.
            request._new_api_key = tokens.issue_key(obj)
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        key = getattr(request, "_new_api_key", None)
        if key is None:
            raise PermissionDenied
        template = engines["django"].from_string(KEY_ONCE_TEMPLATE)
        context = {
            **self.admin_site.each_context(request),
            "title": f"API key for {obj.name}",
            "key": key,
            "token": obj,
            "stores": list(obj.stores.all()),
            "change_url": reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=[obj.pk], current_app=self.admin_site.name,
            ),
            "opts": self.opts,
        }
        response = TemplateResponse(request, template, context)
        # The key must not linger in a browser or proxy cache.
        response["Cache-Control"] = "no-store"
        return response
