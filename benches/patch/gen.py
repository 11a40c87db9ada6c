#!/usr/bin/env python3
"""Generate a stream of N Kubernetes documents of mixed kinds (a big Helm-rendered release).

About half are workloads (Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod); the rest are
Services, ConfigMaps and Secrets that rofs must pass through untouched."""
import sys

n = int(sys.argv[1])
kinds = ["Deployment", "Service", "ConfigMap", "StatefulSet", "Deployment", "Secret",
         "CronJob", "Deployment", "Service", "DaemonSet", "Job", "Pod"]
out = []
for i in range(n):
    k = kinds[i % len(kinds)]
    name = f"app-{i}"
    pod = f"""      metadata:
        labels: {{app: {name}}}
      spec:
        securityContext: {{runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001}}
        containers:
          - name: app
            image: registry.example.com/team/app:{i % 17}.0
            args: ["--port", "8080", "--log-level", "info"]
            ports: [{{containerPort: 8080, name: http}}]
            env:
              - {{name: MODE, value: "production"}}
              - {{name: REPLICA, value: "{i}"}}
            resources:
              requests: {{cpu: 100m, memory: 128Mi}}
              limits: {{memory: 256Mi}}
            volumeMounts:
              - {{name: config, mountPath: /etc/app}}
        volumes:
          - name: config
            configMap: {{name: {name}-config}}
"""
    src = f"# Source: big-chart/templates/{k.lower()}.yaml\n"
    if k in ("Deployment", "StatefulSet", "DaemonSet"):
        extra = "  serviceName: " + name + "\n" if k == "StatefulSet" else ""
        replicas = "" if k == "DaemonSet" else "  replicas: 3\n"
        out.append(f"""{src}apiVersion: apps/v1
kind: {k}
metadata:
  name: {name}
  labels: {{app: {name}, release: big}}
spec:
{replicas}{extra}  selector:
    matchLabels: {{app: {name}}}
  template:
{pod}""")
    elif k == "Job":
        job_pod = pod.replace("        containers:", "        restartPolicy: Never\n        containers:")
        out.append(f"""{src}apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  template:
{job_pod}""")
    elif k == "CronJob":
        cron_pod = pod.replace("        containers:", "        restartPolicy: OnFailure\n        containers:")
        tpl = "\n".join("    " + l if l else l for l in cron_pod.splitlines())
        out.append(f"""{src}apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
{tpl}
""")
    elif k == "Pod":
        body = "\n".join(l[4:] for l in pod.splitlines())
        out.append(f"""{src}apiVersion: v1
kind: Pod
metadata:
  name: {name}
{body[body.index("spec:"):]}
""")
    elif k == "Service":
        out.append(f"""{src}apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: http}}]
""")
    elif k == "ConfigMap":
        out.append(f"""{src}apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
data:
  app.properties: |
    server.port=8080
    feature.x=on
  enabled: "yes"
""")
    else:
        out.append(f"""{src}apiVersion: v1
kind: Secret
metadata:
  name: {name}
type: Opaque
stringData:
  password: "s3cret-{i}"
""")
sys.stdout.write("---\n".join(out))
