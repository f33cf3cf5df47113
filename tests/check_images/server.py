"""A tiny SageMaker serving container that follows the contract, unless DEFECT says not.

Loads for 1.5 s (/ping 503 meanwhile), then answers header-less numeric CSV with one sum
per row. Each DEFECT breaks exactly one rule of ``byoc check`` (see tests/test_check.py).
"""

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

DEFECT = os.environ.get("DEFECT", "")
LIMIT = int(os.environ.get("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6")) * 1024 * 1024
ACCEPTED = ("*/*", "text/*", "text/csv")
loaded = threading.Event()
pings = []


class Server(HTTPServer if DEFECT == "single-threaded" else ThreadingHTTPServer):
    # the default backlog, 5, drops SYNs when connections come quickly (a 1 s retry)
    request_queue_size = 1 if DEFECT == "small-backlog" else 128
    daemon_threads = False  # server_close() waits for requests in flight


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def answer(self, status, body=b"", content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/ping":
            pings.append(1)
            if DEFECT == "slow-ping" and len(pings) % 4 == 0:
                time.sleep(2.5)
            ready = loaded.is_set() or DEFECT == "ping-always-200"
            return self.answer(200 if ready else 503)
        if self.path == "/execution-parameters":
            values = {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD"}
            values["MaxPayloadInMB"] = 60 if DEFECT == "bad-execution-parameters" else 6
            return self.answer(200, json.dumps(values).encode())
        return self.answer(404)

    def do_POST(self):
        if self.path != "/invocations":
            return self.answer(404)
        length = int(self.headers.get("Content-Length") or 0)
        if length > LIMIT and DEFECT != "no-413":
            return self.answer(413, b'{"error": "payload_too_large"}')
        body = self.rfile.read(length)
        if not loaded.is_set():
            return self.answer(503, b'{"error": "model_not_ready"}')
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "text/csv":
            return self.answer(500 if DEFECT == "500-on-bad-type" else 415)
        accept = [
            part.split(";")[0].strip() for part in (self.headers.get("Accept") or "*/*").split(",")
        ]
        if DEFECT != "ignores-accept" and not any(item in ACCEPTED for item in accept):
            return self.answer(406)
        try:
            rows = [
                [float(x) for x in line.split(",")]
                for line in body.decode().splitlines()
                if line.strip()
            ]
        except (UnicodeDecodeError, ValueError):
            if DEFECT == "crash-on-garbage":
                os._exit(1)
            return self.answer(400, b'{"error": "bad_request"}')
        if DEFECT == "reverses-records":
            rows.reverse()
        self.answer(200, "".join(f"{sum(row):.4f}\n" for row in rows).encode(), "text/csv")


def load():
    time.sleep(1.5)
    loaded.set()


def phone_home():
    with contextlib.suppress(OSError):
        socket.getaddrinfo("pypi.org", 443)


def main():
    if DEFECT == "needs-network":
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect(("10.255.255.1", 53))  # sends nothing: only asks for a route
        except OSError as exc:
            sys.exit(f"no network: {exc}")
    if DEFECT == "root-only" and os.getuid() != 0:
        sys.exit("must run as root")
    if DEFECT == "writes-root-fs":
        with open("/srv/state", "w") as state:
            state.write("started\n")
    if DEFECT == "phones-home":
        threading.Thread(target=phone_home, daemon=True).start()
    port = 8080 if DEFECT == "wrong-port" else int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = Server(("0.0.0.0", port), Handler)
    if DEFECT == "ignore-sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    threading.Thread(target=load, daemon=True).start()
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
