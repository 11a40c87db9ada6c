#!/usr/bin/env python3
"""Generate a stream of N Kubernetes documents for `rofs audit` and its peers.

The mixed stream of benches/patch/gen.py (workloads of every kind, Services, ConfigMaps,
Secrets, Helm `# Source:` comments), with the containers of the workloads varied so that the
audits have something to find and to disagree on. Workload number w (counted over workloads
only) has, by w % 6:

  0  one container, no securityContext                      (every audit flags it)
  1  one read-only container, an emptyDir medium: Memory
     without sizeLimit                                      (nothing for CKV_K8S_22)
  2  a read-only container and a writable sidecar           (the second container)
  3  a read-only container and a writable initContainer     (the initContainer)
  4  two writable containers                                (both: checkov names the first)
  5  readOnlyRootFilesystem: false, and every other one of these carries
     rofs.io/audit-ignore (suppressed for rofs; not for the peers)
"""
import sys

n = int(sys.argv[1])
kinds = ["Deployment", "Service", "ConfigMap", "StatefulSet", "Deployment", "Secret",
         "CronJob", "Deployment", "Service", "DaemonSet", "Job", "Pod"]


def container(name, image, sc):
    sc_line = f"\n            securityContext: {sc}" if sc else ""
    return f"""          - name: {name}
            image: {image}
            args: ["--port", "8080"]
            resources:
              requests: {{cpu: 100m, memory: 128Mi}}{sc_line}
            volumeMounts:
              - {{name: config, mountPath: /etc/app}}
"""


RO = "{readOnlyRootFilesystem: true}"
out = []
w = 0
for i in range(n):
    k = kinds[i % len(kinds)]
    name = f"app-{i}"
    src = f"# Source: big-chart/templates/{k.lower()}.yaml\n"
    if k in ("Service", "ConfigMap", "Secret"):
        body = {
            "Service": f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n"
                       f"  selector: {{app: {name}}}\n  ports: [{{port: 80, targetPort: http}}]\n",
            "ConfigMap": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-config\n"
                         f"data:\n  app.properties: |\n    server.port=8080\n",
            "Secret": f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: Opaque\n"
                      f"stringData:\n  password: \"s3cret-{i}\"\n",
        }[k]
        out.append(src + body)
        continue
    v = w % 6
    image = f"registry.example.com/team/app:{i % 17}.0"
    annotations = ""
    init = ""
    volumes = "          - name: config\n            configMap: {name: " + name + "-config}\n"
    if v == 0:
        containers = container("app", image, None)
    elif v == 1:
        containers = container("app", image, RO)
        volumes += "          - name: cache\n            emptyDir: {medium: Memory}\n"
    elif v == 2:
        containers = container("app", image, RO) + container("sidecar", "registry.example.com/team/proxy:1.0", None)
    elif v == 3:
        containers = container("app", image, RO)
        init = "        initContainers:\n" + container("init", "registry.example.com/team/migrate:1.0", None)
    elif v == 4:
        containers = container("app", image, None) + container("worker", image, None)
    else:
        containers = container("app", image, "{readOnlyRootFilesystem: false}")
        if (w // 6) % 2 == 0:
            annotations = "\n  annotations:\n    rofs.io/audit-ignore: \"writes its cache in /; accepted by the security review\""
    w += 1
    restart = ""
    if k == "Job":
        restart = "        restartPolicy: Never\n"
    elif k == "CronJob":
        restart = "        restartPolicy: OnFailure\n"
    pod_spec = f"""      metadata:
        labels: {{app: {name}}}
      spec:
{restart}{init}        containers:
{containers}        volumes:
{volumes}"""

    def indent(text, by):
        return "\n".join((" " * by + line) if line else line for line in text.splitlines()) + "\n"

    head = f"metadata:\n  name: {name}{annotations}\n"
    if k in ("Deployment", "StatefulSet", "DaemonSet"):
        extra = f"  serviceName: {name}\n" if k == "StatefulSet" else ""
        out.append(f"{src}apiVersion: apps/v1\nkind: {k}\n{head}spec:\n{extra}  selector:\n"
                   f"    matchLabels: {{app: {name}}}\n  template:\n{pod_spec}")
    elif k == "Job":
        out.append(f"{src}apiVersion: batch/v1\nkind: Job\n{head}spec:\n  template:\n{pod_spec}")
    elif k == "CronJob":
        out.append(f"{src}apiVersion: batch/v1\nkind: CronJob\n{head}spec:\n"
                   f"  schedule: \"*/5 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n"
                   + indent(pod_spec, 4))
    else:  # Pod: the template's spec, four columns to the left
        spec = pod_spec[pod_spec.index("      spec:\n") + len("      spec:\n"):]
        spec = "\n".join(line[4:] for line in spec.splitlines()) + "\n"
        out.append(f"{src}apiVersion: v1\nkind: Pod\n{head}spec:\n{spec}")
sys.stdout.write("---\n".join(out))
