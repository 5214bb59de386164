"""``/api/v1/stores/{slug}/integrations/`` and sync runs: read-outs and "sync now".

Secrets never leave: an integration shows which credential keys are stored,
each value masked to its last four characters (whatever the key).
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from inventory.api.v1 import StoreScopedView

from . import services
from .models import Integration, SyncRun


class IntegrationSerializer(serializers.ModelSerializer):
    credentials = serializers.SerializerMethodField(help_text="Stored keys, every value masked.")
    capabilities = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = [
            "id", "name", "slug", "kind", "role", "inventory_sync", "status", "last_error", "consecutive_failures",
            "location_id", "location_name", "schedule_minutes", "reconcile_hours", "first_push_confirmed",
            "last_pull_at", "last_push_at", "last_reconcile_at", "last_orders_at", "credentials", "capabilities",
        ]

    def get_credentials(self, obj) -> dict[str, str]:
        return obj.masked_credentials()

    def get_capabilities(self, obj) -> dict:
        caps = obj.capabilities
        return {"pull": caps.pull, "push": caps.push, "replaced_skus": caps.replaced_skus,
                "batch_limit": caps.batch_limit, "rate_limit": caps.rate_limit, "orders": caps.orders}


class SyncRunSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = SyncRun
        fields = ["id", "integration", "kind", "trigger", "status", "started_at", "finished_at", "counts",
                  "item_errors", "details", "message"]


class IntegrationScopedView(StoreScopedView):
    def integrations(self):
        if self.schema_only:
            return Integration.objects.none()
        return Integration.objects.filter(store=self.get_store())

    def get_integration(self):
        return get_object_or_404(self.integrations(), slug=self.kwargs["integration"])


class IntegrationList(IntegrationScopedView, generics.ListAPIView):
    """The store's integrations (credentials masked)."""

    serializer_class = IntegrationSerializer

    def get_queryset(self):
        return self.integrations().order_by("name")


class IntegrationDetail(IntegrationScopedView, generics.RetrieveAPIView):
    serializer_class = IntegrationSerializer

    def get_object(self):
        return self.get_integration()


class IntegrationRuns(IntegrationScopedView, generics.ListAPIView):
    """The integration's runs, newest first, with per-item errors."""

    serializer_class = SyncRunSerializer

    def get_queryset(self):
        if self.schema_only:
            return SyncRun.objects.none()
        return SyncRun.objects.filter(integration=self.get_integration()).select_related("integration")


class StoreRuns(IntegrationScopedView, generics.ListAPIView):
    """Every sync run of the store's integrations, newest first."""

    serializer_class = SyncRunSerializer

    def get_queryset(self):
        if self.schema_only:
            return SyncRun.objects.none()
        return SyncRun.objects.filter(integration__store=self.get_store()).select_related("integration")


class IntegrationSync(IntegrationScopedView):
    """Run the integration now (a cart's new orders, then a pull or a push): the same run the schedule makes."""

    serializer_class = SyncRunSerializer
    queryset = SyncRun.objects.none()

    @extend_schema(request=None, responses=SyncRunSerializer(many=True))
    def post(self, request, *args, **kwargs):
        integration = self.get_integration()
        runs = services.sync(integration, trigger="api")
        return Response(SyncRunSerializer(runs, many=True).data, status=200 if runs else 409)
