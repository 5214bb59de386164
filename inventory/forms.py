"""Forms behind the inventory admin.

They only collect and check input.  Stock is written by
:mod:`inventory.services` (the admin calls it with what these forms cleaned),
and metadata is judged by :func:`inventory.services.validate_metadata`, the
same check the API and imports use, so a value refused here is refused
everywhere with the same words.
"""

from __future__ import annotations

import zoneinfo

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from . import rules, selectors, services
from .models import InventoryItem, Store

# Far beyond any real count, well inside the database's integer column.
STOCK_LIMIT = 1_000_000_000

# A value that each known rule accepts: validating the key with it tells a bad
# key apart from a bad value, so the message lands on the right field.
_PROBE_VALUES = {"code_replace": "x", "adjustment_percent": "0"}


class StoreForm(forms.ModelForm):
    """Store settings; the time zone is picked from a list, not typed."""

    time_zone = forms.ChoiceField(
        choices=[(name, name) for name in sorted(zoneinfo.available_timezones())],
        initial="UTC",
        help_text="Used for the daily low-stock digest and dates in mails.",
    )

    class Meta:
        model = Store
        fields = ["name", "slug", "time_zone", "reduce_stock_on_order_import", "restock_on_cancel",
                  "inventory_source", "sync_paused", "low_stock_recipients", "low_stock_threshold",
                  "low_stock_digest_hour"]


class InventoryItemForm(forms.ModelForm):
    """An item's details plus a stock change, which the admin hands to the services.

    "Set stock to" is a counted quantity (absolute); "Adjust by" is a relative
    change such as goods received or breakage.  Either one is written with a
    ledger entry; both at once would be ambiguous, so that is refused.
    """

    set_stock_to = forms.IntegerField(
        required=False,
        min_value=-STOCK_LIMIT,
        max_value=STOCK_LIMIT,
        label="Set stock to",
        help_text="The quantity you counted. Leave empty to keep the stock as it is.",
    )
    adjust_by = forms.IntegerField(
        required=False,
        min_value=-STOCK_LIMIT,
        max_value=STOCK_LIMIT,
        label="Adjust by (±)",
        help_text="Added to the current stock: 5 for goods received, -2 for breakage.",
    )
    stock_note = forms.CharField(
        required=False,
        max_length=255,
        label="Note",
        help_text="Optional: why the stock changed (kept in the stock history).",
    )

    class Meta:
        model = InventoryItem
        fields = ["store", "code", "name", "location", "price", "cost", "weight"]
        widgets = {"name": forms.TextInput(attrs={"size": 60})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and "set_stock_to" in self.fields:
            self.fields["set_stock_to"].label = "Starting stock"
            self.fields["set_stock_to"].help_text = "How many you have now. Leave empty for 0."

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("set_stock_to") is not None and cleaned.get("adjust_by") is not None:
            raise ValidationError(
                "Fill in either “Set stock to” or “Adjust by”, not both: one is a count, "
                "the other a change to the current stock."
            )
        code = (cleaned.get("code") or "").strip()
        store = cleaned.get("store") or getattr(self.instance, "store", None)
        if code and store is not None:
            clash = (
                InventoryItem.objects.active()
                .filter(store=store, code=code)
                .exclude(pk=self.instance.pk)
                .exists()
            )
            if clash:
                self.add_error("code", f"{store} already has an item with the SKU {code}.")
        old_code = self.instance.code if self.instance.pk else None
        if old_code and code and code != old_code and store is not None:
            refusal = selectors.code_in_use(store, old_code)  # the same rule as the API's
            if refusal:
                self.add_error("code", refusal)
        return cleaned

    @property
    def stock_change(self) -> tuple[str, int] | None:
        """``("set", n)``, ``("adjust", n)`` or None: what the admin asks the services to do."""
        if self.cleaned_data.get("set_stock_to") is not None:
            return "set", self.cleaned_data["set_stock_to"]
        if self.cleaned_data.get("adjust_by"):
            return "adjust", self.cleaned_data["adjust_by"]
        return None


def _field_for(key: str, value: str) -> str:
    """Which inline field a per-entry problem belongs to: the key or the value."""
    base = rules.split_key(key)[0]
    probe = _PROBE_VALUES.get(base, "0")
    try:
        rules.validate_metadata(key, probe)
    except rules.MetadataError:
        return "key"
    return "value"


class ItemMetadataFormSet(BaseInlineFormSet):
    """The metadata rows of one item, validated as one set.

    The whole set goes through :func:`services.validate_metadata` (so ``max``
    below ``min`` or a ``code_replace`` naming a missing SKU is caught), and each
    problem is shown on the row it is about.  Saving is done by the admin
    through :func:`services.set_metadata`, never by this formset.
    """

    def wanted(self) -> dict[str, str]:
        """Key → value as entered (rows marked for deletion or left blank are dropped)."""
        return {key: value for _form, key, value in self._rows()}

    def _rows(self):
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE"):
                continue
            key = (data.get("key") or "").strip()
            value = data.get("value")
            value = "" if value is None else str(value)
            if key and value.strip():
                yield form, key, value

    def clean(self):
        super().clean()
        if any(form.errors for form in self.forms):
            return
        item = self.instance
        store = getattr(item, "store", None) if item.store_id else None
        code = (item.code or "").strip()
        if store is None or not code:
            return  # the item form itself reports a missing store or SKU
        rows = list(self._rows())
        by_key: dict[str, list] = {}
        for form, key, _value in rows:
            base, slug = rules.split_key(key)
            by_key.setdefault(base if slug is None else f"{base}@{slug}", []).append(form)
        placed = 0
        # The same key twice (keys ignore case): the service would quietly keep one.
        for norm_key, forms_for_key in by_key.items():
            if len(forms_for_key) > 1:
                for form in forms_for_key[1:]:
                    form.add_error(
                        "key", f"{norm_key} is already set in another row (keys ignore case); keep one."
                    )
                    placed += 1
        if placed:
            return
        wanted = {key: value for _form, key, value in rows}
        _normalised, problems = services.validate_metadata(store, code, wanted)
        if not problems:
            return
        own: dict[str, tuple] = {}
        form_by_norm_key = {}
        normalised_rows = {}
        for form, key, value in rows:
            try:
                norm_key, norm_value = rules.validate_metadata(key, value, own_code=code)
            except rules.MetadataError as exc:
                own.setdefault(exc.message, (form, _field_for(key, value)))
                continue
            normalised_rows[norm_key] = norm_value
            form_by_norm_key[norm_key] = form
        cross = {
            problem.message: form_by_norm_key[problem.key]
            for problem in rules.validate_metadata_set(normalised_rows)
            if problem.key in form_by_norm_key
        }
        replace_form = form_by_norm_key.get("code_replace")
        unplaced = []
        for message in problems:
            if message in own:
                form, field = own[message]
                form.add_error(field, message)
            elif message in cross:
                cross[message].add_error("value", message)
            elif replace_form is not None and "code_replace" in message:
                replace_form.add_error("value", message)
            else:
                unplaced.append(message)
        if unplaced:
            raise ValidationError(unplaced)


class SetMetadataForm(forms.Form):
    """The bulk action's question: which key, which value, for every selected item."""

    key = forms.CharField(
        max_length=100,
        help_text="For example max, min, adjustment_percent, skip_push or max@amazon-us.",
        widget=forms.TextInput(attrs={"list": "hub-metadata-keys", "autofocus": True}),
    )
    value = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Leave empty to remove the key from the selected items.",
    )

    def clean_key(self):
        key = self.cleaned_data["key"].strip()
        if not key:
            raise ValidationError("Name the key to set.")
        return key
