#!/usr/bin/env python3
"""A second mutating webhook for tests/cluster/tests/webhook.rs, standing in for a service mesh:
it adds a container `mesh` to every pod it is called for (once: not when it is there already).
Serves HTTPS on 127.0.0.1 (the API server calls it by `clientConfig.url`), Python stdlib only.

    mesh_webhook.py CERT KEY IMAGE PORT_FILE   writes the port it listens on to PORT_FILE,
                                               prints one line per review on stdout
"""
import base64
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

CERT, KEY, IMAGE, PORT_FILE = sys.argv[1:5]
MESH = {
    "name": "mesh",
    "image": IMAGE,
    "imagePullPolicy": "Never",
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        req = review["request"]
        names = [c["name"] for c in req["object"]["spec"]["containers"]]
        response = {"uid": req["uid"], "allowed": True}
        if "mesh" not in names:
            patch = [{"op": "add", "path": "/spec/containers/-", "value": MESH}]
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        print(f"review {req['uid']} containers={names} added={'mesh' not in names}", flush=True)
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(PORT_FILE, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
