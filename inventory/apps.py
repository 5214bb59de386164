from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self):
        from . import mail, order_tasks
        from .signals import stock_changed

        # Every committed stock change is checked for items falling below their threshold.
        stock_changed.connect(mail.on_stock_changed, dispatch_uid="inventory-low-stock-check")
        # The mail schedule exists wherever the tables do, created once however often migrate runs.
        post_migrate.connect(
            order_tasks.ensure_schedules, sender=self, dispatch_uid="inventory-mail-schedule"
        )
