from django.urls import path

from . import api

store = "v1/stores/<slug:slug>/"
urlpatterns = [
    path(store + "integrations/", api.IntegrationList.as_view(), name="api-v1-integrations"),
    path(store + "integrations/<slug:integration>/", api.IntegrationDetail.as_view(), name="api-v1-integration"),
    path(store + "integrations/<slug:integration>/runs/", api.IntegrationRuns.as_view(),
         name="api-v1-integration-runs"),
    path(store + "integrations/<slug:integration>/sync/", api.IntegrationSync.as_view(),
         name="api-v1-integration-sync"),
    path(store + "sync-runs/", api.StoreRuns.as_view(), name="api-v1-sync-runs"),
]
