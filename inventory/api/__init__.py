"""The REST APIs: ``/api/v1/`` (the hub's own) and ``/api/v2/`` (order-desk compatible)."""
