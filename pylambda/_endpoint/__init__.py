"""The Lambda REST API over an Invoker, as botocore and the AWS CLI speak it (private package).

::

    client ──HTTP/1.1──▶ http.HttpServer ──Request──▶ api.LambdaApi.handle ──▶ routes.match
                                                          │                      │ method + full path
                                                          ▼                      ▼
                        Response ◀── errors (Lambda's modelled names) ◀── operation module
                                                                    invoke / functions / aliases /
                                                                    settings / policy / mappings
                                                                          │
                                                                          ▼
                                                          the Invoker and pylambda's model

``Invoker.serve()`` makes a ``LambdaEndpoint``; ``environ`` gives
environments ``AWS_ENDPOINT_URL_LAMBDA`` (an endpoint started on first
need) and their role's credentials.
"""

from __future__ import annotations

from .endpoint import LambdaEndpoint

__all__ = ["LambdaEndpoint"]
