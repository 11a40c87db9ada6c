#!/usr/bin/env bash
# Validate Kubernetes manifests in STRICT mode (unknown fields are errors) against the
# schemas of Kubernetes 1.29 and of the newest version kubernetes-validate knows.
#
#   scripts/validate-schemas.sh DIR|FILE...   validate the YAML/JSON files given (or in DIR)
#   scripts/validate-schemas.sh --install     only make sure the tool is installed
#
# Installs the PyPI package kubernetes-validate (pip --user) when it is missing.
# Set KUBERNETES_VERSIONS to override the versions ("1.29.0 newest" by default).
set -euo pipefail

if ! command -v kubernetes-validate >/dev/null 2>&1; then
    echo "validate-schemas: installing kubernetes-validate from PyPI" >&2
    python3 -m pip install --quiet --user kubernetes-validate
    export PATH="$(python3 -m site --user-base)/bin:$PATH"
fi
command -v kubernetes-validate >/dev/null || { echo "validate-schemas: kubernetes-validate not on PATH" >&2; exit 1; }
[ "${1:-}" = "--install" ] && { kubernetes-validate --version; exit 0; }
[ $# -gt 0 ] || { echo "usage: $0 DIR|FILE... | --install" >&2; exit 2; }

files=()
for arg in "$@"; do
    if [ -d "$arg" ]; then
        while IFS= read -r -d '' f; do files+=("$f"); done \
            < <(find "$arg" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) -print0 | sort -z)
    else
        files+=("$arg")
    fi
done
[ ${#files[@]} -gt 0 ] || { echo "validate-schemas: no YAML/JSON files in $*" >&2; exit 1; }

status=0
for version in ${KUBERNETES_VERSIONS:-1.29.0 newest}; do
    args=(--strict --quiet)
    [ "$version" = newest ] || args+=(--kubernetes-version "$version")
    echo "validate-schemas: ${#files[@]} files, Kubernetes $version (strict)" >&2
    kubernetes-validate "${args[@]}" "${files[@]}" || status=1
done
exit $status
