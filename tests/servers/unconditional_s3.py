"""``moto_server`` as a store without conditional writes: a PUT's ``If-None-Match: *`` and
``If-Match`` are dropped before moto sees them, so creating an object that exists overwrites
it, as does rewriting one that changed (S3-compatible stores that predate AWS's conditional
writes of 2024 behave so). Same arguments as
``moto_server``: ``python -m tests.servers.unconditional_s3 -H 127.0.0.1 -p PORT``."""

from __future__ import annotations

import moto.server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication


class Unconditional(DomainDispatcherApplication):
    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "PUT":
            environ.pop("HTTP_IF_NONE_MATCH", None)
            environ.pop("HTTP_IF_MATCH", None)
        return super().__call__(environ, start_response)


if __name__ == "__main__":
    moto.server.DomainDispatcherApplication = Unconditional
    moto.server.main()
