from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from inventory import explain

        from . import selectors, services, signals  # noqa: F401

        explain.register_cart_provider(selectors.cart_infos)
        explain.register_note_provider(services.code_match_notes)
