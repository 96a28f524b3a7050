"""A minimal stand-in for Entra ID, Resource Manager and Kudu on loopback,
for the upload benchmark only (the contract tests use wiremock from the
official shapes). It discards upload bodies as they arrive, so its own
memory does not depend on the artifact.

    python3 fake_azure.py PORT
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SETTINGS = {"production": {"PIPELINE_VERSION": "0.9.0"}, "staging": {}}
RECEIVED = {"bytes": 0}
BASE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=None, headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def drain(self):
        left = int(self.headers.get("Content-Length", "0"))
        total = 0
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            total += len(chunk)
        return total

    def site(self, slot):
        host = "127.0.0.1:%d" % self.server.server_port
        return {
            "id": BASE + ("/slots/" + slot if slot else ""),
            "name": "app" + ("/" + slot if slot else ""),
            "location": "East US",
            "kind": "app,linux",
            "properties": {
                "state": "Running",
                "defaultHostName": host,
                "hostNameSslStates": [{"name": host, "hostType": "Repository"}],
                "serverFarmId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/serverfarms/p",
            },
        }

    def do_POST(self):
        path = self.path.split("?")[0]
        if path.endswith("/oauth2/v2.0/token"):
            self.drain()
            return self.reply(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": "bench-token"})
        if path == BASE + "/slots/staging/config/appsettings/list":
            self.drain()
            return self.reply(200, {"properties": SETTINGS["staging"]})
        if path == "/api/publish":
            RECEIVED["bytes"] = self.drain()
            return self.reply(202, None, [("Location", "/api/deployments/latest")])
        self.drain()
        self.reply(404, {"error": {"code": "NotFound", "message": self.path}})

    def do_PUT(self):
        path = self.path.split("?")[0]
        if path == BASE + "/slots/staging/config/appsettings":
            n = int(self.headers.get("Content-Length", "0"))
            SETTINGS["staging"] = json.loads(self.rfile.read(n))["properties"]
            return self.reply(200, {"properties": SETTINGS["staging"]})
        self.drain()
        self.reply(404, {"error": {"code": "NotFound", "message": self.path}})

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == BASE:
            return self.reply(200, self.site(None))
        if path == BASE + "/slots/staging":
            return self.reply(200, self.site("staging"))
        if path == "/api/deployments/latest":
            return self.reply(200, {"id": "bench", "status": 4, "complete": True, "received": RECEIVED["bytes"]})
        if path == "/health":
            return self.reply(200, {"status": "ok", "version": SETTINGS["staging"].get("PIPELINE_VERSION")})
        self.reply(404, {"error": {"code": "NotFound", "message": self.path}})


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
