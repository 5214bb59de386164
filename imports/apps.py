from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "imports"
    verbose_name = "Stock imports"

    def ready(self):
        from . import sources_admin  # noqa: F401
