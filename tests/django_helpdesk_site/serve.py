"""Serve the test site on 127.0.0.1 from this process until stdin closes or it is killed.

``python -m tests.django_helpdesk_site.serve`` (settings from the environment, see
``settings``) binds a free port, prints ``READY http://127.0.0.1:PORT`` once it accepts
connections, and serves with werkzeug's threaded server (Django's ``runserver`` would
add an autoreloader and static-file handling the tests do not want).
"""

from __future__ import annotations

import os
import sys
import threading


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_helpdesk_site.settings")
    from django.core.wsgi import get_wsgi_application
    from werkzeug.serving import WSGIRequestHandler, make_server

    application = get_wsgi_application()

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:
            # One line per request would drown the test output; failures still log.
            pass

    server = make_server("127.0.0.1", int(os.environ.get("BRIDGE_DH_PORT", "0")), application,
                         threaded=True, request_handler=QuietHandler)
    server.daemon_threads = True

    def stop_when_parent_goes() -> None:
        # The fixture holds our stdin; when the test process dies, so does this server.
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=stop_when_parent_goes, daemon=True).start()
    print(f"READY http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
