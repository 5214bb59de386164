"""Signals other apps listen to, so that ``inventory`` imports none of them.

``stock_changed`` is sent after the transaction that changed stock commits, with
``store_ids`` and ``item_ids``: integrations mark those items for a push.
"""

from django.dispatch import Signal

stock_changed = Signal()
metadata_changed = Signal()
