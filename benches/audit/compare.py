#!/usr/bin/env python3
"""Compare the containers `rofs audit` flags with the ones checkov's CKV_K8S_22 flags.

    compare.py STREAM ROFS_JSON CHECKOV_JSON

A container is (kind, namespace, name, containerType, container name); a missing namespace is
`default`, as checkov names it. rofs: its ROFS-A001 (containers, native sidecars), A002
(initContainers) and A003 (ephemeral containers) findings. checkov: one failed check per
workload, naming in `evaluated_keys` the first container (then initContainer) that fails.
Prints the counts, every kind of difference with its reason, and examples."""
import json
import re
import sys
from collections import Counter

import yaml

stream, rofs_path, checkov_path = sys.argv[1:4]

# (kind, namespace, name) -> {("containers"|"initContainers", index): container name}
names = {}
for doc in yaml.safe_load_all(open(stream)):
    if not isinstance(doc, dict):
        continue
    kind, meta = doc.get("kind"), doc.get("metadata") or {}
    spec = {
        "Pod": lambda d: d.get("spec"),
        "CronJob": lambda d: d["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    }.get(kind, lambda d: (d.get("spec") or {}).get("template", {}).get("spec"))(doc)
    if not isinstance(spec, dict):
        continue
    key = (kind, meta.get("namespace", "default"), meta.get("name"))
    names[key] = {
        (t, i): c.get("name")
        for t in ("containers", "initContainers", "ephemeralContainers")
        for i, c in enumerate(spec.get(t) or [])
    }

RULE_TYPES = {"ROFS-A001", "ROFS-A002", "ROFS-A003"}
rofs_flagged, rofs_suppressed = set(), set()
for f in json.load(open(rofs_path))["findings"]:
    if f["rule"] not in RULE_TYPES:
        continue
    key = (f["kind"], f["namespace"] or "default", f["name"], f["containerType"], f["container"])
    (rofs_suppressed if f["suppressed"] else rofs_flagged).add(key)

checkov = json.load(open(checkov_path))
checkov = checkov if isinstance(checkov, list) else [checkov]
checkov_flagged = set()
for report in checkov:
    for c in report.get("results", {}).get("failed_checks", []):
        if c["check_id"] != "CKV_K8S_22":
            continue
        kind, ns, name = c["resource"].split(".", 2)
        m = re.search(r"/(containers|initContainers)/\[(\d+)\]", " ".join(c["check_result"].get("evaluated_keys", [])))
        ctype, idx = m.group(1), int(m.group(2))
        cname = names.get((kind, ns, name), {}).get((ctype, idx))
        checkov_flagged.add((kind, ns, name, {"containers": "container", "initContainers": "initContainer"}[ctype], cname))

workload = lambda k: k[:3]
rofs_workloads = {workload(k) for k in rofs_flagged}
checkov_workloads = {workload(k) for k in checkov_flagged}
both = rofs_flagged & checkov_flagged
only_rofs = rofs_flagged - checkov_flagged
only_checkov = checkov_flagged - rofs_flagged

reasons = Counter()
examples = {}
for k in sorted(only_rofs):
    if workload(k) in checkov_workloads:
        r = "only rofs: a second failing container of a workload checkov flags (checkov names the first one only)"
    else:
        r = "only rofs: unexplained"
    reasons[r] += 1
    examples.setdefault(r, k)
for k in sorted(only_checkov):
    if k in rofs_suppressed:
        r = "only checkov: suppressed in rofs by a rofs.io/audit-ignore annotation (reported as suppressed, with its reason)"
    else:
        r = "only checkov: unexplained"
    reasons[r] += 1
    examples.setdefault(r, k)

print(f"containers flagged: rofs {len(rofs_flagged)} (+{len(rofs_suppressed)} suppressed), "
      f"checkov {len(checkov_flagged)}, both {len(both)}")
print(f"workloads flagged: rofs {len(rofs_workloads)}, checkov {len(checkov_workloads)}, "
      f"both {len(rofs_workloads & checkov_workloads)}")
for r, count in sorted(reasons.items()):
    kind, ns, name, ctype, cname = examples[r]
    print(f"  {count:6d}  {r}; e.g. {kind} {ns}/{name} {ctype} {cname}")
unexplained = sum(c for r, c in reasons.items() if "unexplained" in r)
print(f"unexplained differences: {unexplained}")
sys.exit(1 if unexplained else 0)
