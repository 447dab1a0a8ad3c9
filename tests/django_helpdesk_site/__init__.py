"""A minimal Django project that runs django-helpdesk 2.6.1 for the integration tests.

``settings`` reads its database file and e-mail directory from the environment, so each
test server gets its own copy of a migrated template database; ``build`` migrates that
template once and seeds it (a staff user with a DRF token, a queue, custom fields);
``serve`` runs the WSGI app on 127.0.0.1 in a subprocess. :mod:`tests.fixtures.django_helpdesk`
ties them together as a pytest fixture.
"""
