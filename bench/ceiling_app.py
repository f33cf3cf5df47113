"""The ceiling: a bare Flask app whose POST /invocations returns a constant JSON body.

Served by gunicorn exactly the way byoc runs (gthread worker, 8 threads, same number
of workers, --no-control-socket), it is the best a Flask+gunicorn server can do on this
machine; byoc's overhead on top of the model is measured against it.
"""

from flask import Flask, Response, request

app = Flask(__name__)

_BODY = b"[0]"


@app.get("/ping")
def ping():
    return Response(b"", status=200, mimetype="application/json")


@app.post("/invocations")
def invocations():
    request.get_data()  # consume the body like a real handler would; no parsing
    return Response(_BODY, status=200, mimetype="application/json")
