// The app of localhost/rofs-e2e-nodejs:bookworm (node's standard library only). GET / handles
// a request the way upload handlers do: the body goes to a temporary file under os.tmpdir()
// (/tmp), read back, removed; 200 "rofs-e2e-nodejs ok 42", or 500 naming what failed.
"use strict";
const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");

const server = http.createServer((req, res) => {
  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rofs-e2e-"));
    const file = path.join(dir, "upload");
    fs.writeFileSync(file, String(6 * 7));
    const n = fs.readFileSync(file, "utf8");
    fs.rmSync(dir, { recursive: true });
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(`rofs-e2e-nodejs ok ${n}\n`);
  } catch (e) {
    console.error(`GET ${req.url}: ${e.message}`);
    res.writeHead(500, { "Content-Type": "text/plain" });
    res.end(`${e.message}\n`);
  }
});
server.listen(3000, "0.0.0.0", () => console.log("listening on 3000"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
