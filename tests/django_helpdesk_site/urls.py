"""URL conf: django-helpdesk at the root, so its API is ``/api/tickets/``, ``/api/followups/``."""

from django.urls import include, path

urlpatterns = [
    path("", include("helpdesk.urls", namespace="helpdesk")),
]
