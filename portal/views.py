from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from portal import health as checks


@never_cache
@require_safe
def health(request):
    """For load balancers and monitors: 200 while the database answers, 503 when it does not; the
    body says what else is wrong ("ok": false for a stopped scheduler or an unreachable broker)."""
    body = checks.report(timezone.now())
    return JsonResponse(body, status=200 if body["database"]["ok"] else 503)
