"""Shapes of ``/api/v1/`` requests and responses.

Serializers only check types and shapes; what makes a value acceptable for a
store (SKU taken, metadata rules, unknown SKUs in a batch) is decided by the
services, so the admin, imports and the API refuse the same things with the
same words.  Nothing here ever reads a key or its hash.
"""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.models import StockLedgerEntry, Store

from . import services


class StoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Store
        fields = [
            "id", "slug", "name", "time_zone", "sync_paused", "reduce_stock_on_order_import",
            "restock_on_cancel", "low_stock_threshold", "created_at", "updated_at",
        ]
        read_only_fields = fields


@extend_schema_field({"type": "string", "nullable": True})
class MetadataValueField(serializers.Field):
    """Text; numbers and booleans are taken as their text; null removes the key."""

    def to_internal_value(self, data):
        if data is None or isinstance(data, str | int | float | bool | Decimal):
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value

    default_error_messages = {"invalid": "A metadata value must be text or a number."}


@extend_schema_field({
    "type": "object",
    "additionalProperties": {"type": "string", "nullable": True},
    "example": {"max": "25", "adjustment_percent": "50", "skip_push": "no"},
})
class MetadataField(serializers.DictField):
    child = MetadataValueField(allow_null=True)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        try:
            return services.clean_metadata_input(data)
        except services.Invalid as exc:
            raise serializers.ValidationError(exc.errors["metadata"]) from None

    def to_representation(self, value):
        if hasattr(value, "all"):  # an item's metadata rows (prefetched by the views)
            return {entry.key: entry.value for entry in value.all()}
        return dict(value)


class ItemSerializer(serializers.Serializer):
    """An item with its metadata.  ``stock`` may be given when creating; later
    changes go through the stock endpoint, which keeps the ledger's reference."""

    id = serializers.IntegerField(read_only=True)
    code = serializers.CharField(max_length=255, help_text="The SKU, unique in the store.")
    name = serializers.CharField(max_length=500, required=False, allow_blank=True)
    price = serializers.DecimalField(max_digits=14, decimal_places=4, required=False, allow_null=True, min_value=0)
    cost = serializers.DecimalField(max_digits=14, decimal_places=4, required=False, allow_null=True, min_value=0)
    weight = serializers.DecimalField(max_digits=12, decimal_places=4, required=False, allow_null=True, min_value=0)
    location = serializers.CharField(max_length=255, required=False, allow_blank=True)
    stock = serializers.IntegerField(
        required=False, min_value=-services.STOCK_LIMIT, max_value=services.STOCK_LIMIT,
        help_text="Initial count when creating; change it later with POST …/stock/.",
    )
    update_source = serializers.CharField(read_only=True)
    metadata = MetadataField(required=False, help_text="Key/value pairs; null or \"\" removes a key.")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class StepSerializer(serializers.Serializer):
    rule = serializers.CharField()
    before = serializers.IntegerField(allow_null=True)
    after = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()


class ToldSerializer(serializers.Serializer):
    code = serializers.CharField()
    stock = serializers.IntegerField()
    told = serializers.IntegerField(allow_null=True, help_text="null: not sent (e.g. skip_push).")
    error = serializers.CharField(allow_null=True)
    steps = StepSerializer(many=True)


class LedgerEntrySerializer(serializers.ModelSerializer):
    stock_before = serializers.IntegerField(read_only=True)
    user = serializers.SerializerMethodField()

    class Meta:
        model = StockLedgerEntry
        fields = ["id", "delta", "stock_before", "stock_after", "source", "reference", "note",
                  "user", "created_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_user(self, entry):
        return entry.user.get_username() if entry.user_id else None


class StockLineSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The SKU.")
    quantity = serializers.IntegerField(help_text="The count (set) or the change (add).")


class StockBatchSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(services.MODES, default=services.SET)
    on_error = serializers.ChoiceField(
        [services.REJECT_ALL, services.REJECT_FAILED], default=services.REJECT_ALL,
        help_text="reject_all: one bad line and nothing is written; reject_failed: the good lines are.",
    )
    # Lines are checked one by one by the service, so every problem carries its index.
    items = serializers.ListField(
        child=serializers.JSONField(), allow_empty=False, max_length=services.MAX_BATCH_LINES
    )


class StockBatchDocSerializer(StockBatchSerializer):
    """The request as documented (the view reads lines itself to report per index)."""

    items = StockLineSerializer(many=True)


class StockResultLineSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    code = serializers.CharField()
    before = serializers.IntegerField()
    after = serializers.IntegerField()


class StockErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the line in items, from 0.")
    code = serializers.CharField(allow_null=True)
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class StockCountsSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    failed = serializers.IntegerField()


class StockBatchResultSerializer(serializers.Serializer):
    mode = serializers.CharField()
    on_error = serializers.CharField()
    applied = serializers.BooleanField(help_text="false: nothing was written (reject_all with errors).")
    counts = StockCountsSerializer()
    results = StockResultLineSerializer(many=True)
    errors = StockErrorSerializer(many=True)
    warnings = StockErrorSerializer(many=True, help_text="Written, but worth knowing (e.g. carts ignore it).")
