# moto's server (moto.server.main) with two differences:
#
# - DynamoDB and DynamoDB Streams requests run one at a time. moto
#   evaluates a condition expression and applies the write in separate
#   steps with no lock, so two concurrent conditional writes to one item
#   can both succeed on its threaded server, which DynamoDB never allows.
#   Other services (SQS long polls among them) stay concurrent.
# - JSONPath expressions are compiled once. moto's EventBridge compiles
#   the input paths of a rule target's transformer for every event it
#   delivers, which costs tens of milliseconds (jsonpath_ng builds its
#   grammar each time) and made each rule target of an event cost as much
#   as the rest of its trip. A compiled expression is immutable: sharing
#   it changes no result.
import argparse
import functools
import os
import signal
import sys
import threading

import jsonpath_ng.ext
from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

_dynamodb = threading.Lock()

jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)


def serialize_dynamodb(app):
    def wrapped(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with _dynamodb:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialize_dynamodb(app), threaded=True)


main()
