"""Cart webhooks: verified by the cart's signature, acted on by the engine."""

import logging

from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .adapters.base import AdapterError
from .models import Integration
from .services import WebhookRejected, handle_webhook

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def webhook(request, integration_id: int):
    integration = get_object_or_404(Integration.objects.select_related("store"), pk=integration_id)
    try:
        result = handle_webhook(integration, request.headers, request.body)
    except WebhookRejected:
        logger.warning("webhook for %s rejected: bad signature", integration)
        return HttpResponse("signature does not verify", status=401)
    except AdapterError as exc:
        return HttpResponse(str(exc), status=400)
    return JsonResponse(result)
