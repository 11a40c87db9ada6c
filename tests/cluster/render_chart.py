#!/usr/bin/env python3
"""Render deploy/webhook/chart with the Helm engine (helm-python-sdk embeds Helm v4; there is no
helm binary on these machines), as `helm template rofs-helm CHART -n NAMESPACE --values VALUES`
would, for tests/cluster/tests/webhook.rs to apply to the test cluster.

    render_chart.py CHART OUT_DIR NAMESPACE VALUES_JSON   writes OUT_DIR/<template>.yaml;
                                                          exit 3 if helm_python is missing
"""
import json
import os
import sys

try:
    import helm_python as helm
except ImportError:
    print("helm_python (pip install helm-python-sdk) is not installed", file=sys.stderr)
    sys.exit(3)


def main():
    chart_dir, out_dir, namespace, values = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    chart = helm.Chart.load(chart_dir)
    rendered = chart.render(values, name="rofs-helm", namespace=namespace, is_install=True)
    os.makedirs(out_dir, exist_ok=True)
    for path, text in sorted(rendered.items()):
        if not text.strip() or path.endswith("NOTES.txt"):
            continue
        with open(os.path.join(out_dir, os.path.basename(path)), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
