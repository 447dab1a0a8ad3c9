"""The django-helpdesk server fixtures, for recording its cassette."""

from tests.fixtures.django_helpdesk import django_helpdesk, django_helpdesk_server  # noqa: F401
