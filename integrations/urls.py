from django.urls import path

from . import views

app_name = "integrations"
urlpatterns = [
    path("webhooks/<int:integration_id>/", views.webhook, name="webhook"),
]
