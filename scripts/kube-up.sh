#!/usr/bin/env bash
# A single-node Kubernetes cluster on this machine, from upstream components (docs/cluster.md):
#   etcd + kube-apiserver + kube-controller-manager + kube-scheduler   built by scripts/kube-build.sh
#   kubelet on containerd 2 (CRI plugin; built by scripts/kube-build.sh) and Debian's runc,
#   CNI bridge from Debian's plugins,
#   a pause image built locally from Debian's catatonit (no registry is ever contacted).
# Run as root. Idempotent: components already up are left alone. No systemd needed (daemons are
# started directly; logs in $STATE/logs). Everything listens on this machine only: the API
# server, etcd, controller-manager and scheduler on 127.0.0.1, the kubelet on the node address
# 10.223.0.1 added to `lo` (the kubelet refuses a 127/8 node IP), pods on the bridge rofs-kube0
# (10.222.0.0/24, no masquerading, no route out).
#
# Prints `export KUBECONFIG=...` on stdout at the end.
# Env: ROFS_KUBE_STATE (default /var/lib/rofs-kube), ROFS_KUBE_TIMEOUT (per component, default 120 s),
#      ROFS_KUBE_EVENTED_PLEG=1 (the kubelet's alpha EventedPLEG gate: container events from the
#      runtime instead of the relist every second; benches/e2e/kube-start-time.sh measures it)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/kube-env.sh
. "$repo/scripts/kube-env.sh"
TIMEOUT="${ROFS_KUBE_TIMEOUT:-120}"

[ "$(id -u)" = 0 ] || die "must run as root"
# one kube-up/kube-down at a time
exec 8>/run/rofs-kube.lock
flock 8
t_start=$(date +%s)

# --- binaries -------------------------------------------------------------------------------
BIN="$("$repo/scripts/kube-build.sh")"
CBIN="$("$repo/scripts/kube-build.sh" containerd)"
mkdir -p "$STATE"
echo "$BIN" > "$STATE_BIN_FILE"
echo "$CBIN" > "$CONTAINERD_BIN_FILE"
PATH="$CBIN:$PATH"
t_build=$(date +%s)

# --- Debian packages --------------------------------------------------------------------------
need=()
for pkg in runc containernetworking-plugins catatonit iptables openssl podman; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p "$PKI" "$LOGS" "$RUN" "$STATE/etcd" "$STATE/containerd" "$STATE/kubelet" \
    "$STATE/cni/net.d" "$STATE/cni/ipam"
chmod 700 "$PKI" "$STATE/etcd"

# --- node address -----------------------------------------------------------------------------
ip -4 addr show dev lo | grep -q " $NODE_IP/" || ip addr add "$NODE_IP/32" dev lo

# --- certificates (a kubeadm-like CA; openssl) ----------------------------------------------------
cert() { # NAME CN [O] [SAN]: client/server certificate signed by the CA
    local name="$1" cn="$2" org="${3:-}" san="${4:-}" subj="/CN=$2"
    [ -s "$PKI/$name.crt" ] && return 0
    [ -n "$org" ] && subj="/O=$org/CN=$cn"
    openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
    openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        if [ -n "$san" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"
        else echo "extendedKeyUsage=clientAuth"; fi
    } > "$PKI/$name.ext"
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
        -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
    rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
if [ ! -s "$PKI/ca.crt" ]; then
    openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=rofs-kube-ca" -days 3650 -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
        -out "$PKI/ca.crt" 2>/dev/null
fi
cert apiserver kube-apiserver "" \
    "IP:127.0.0.1,IP:$SERVICE_IP,IP:$NODE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
cert admin kubernetes-admin system:masters
cert controller-manager system:kube-controller-manager
cert scheduler system:kube-scheduler
cert kubelet "system:node:$NODE_NAME" system:nodes
if [ ! -s "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi

kubeconfig() { # NAME CERT
    local f="$STATE/$1.kubeconfig"
    [ -s "$f" ] && return 0
    cat > "$f.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: rofs-kube
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$2.crt")
    client-key-data: $(base64 -w0 < "$PKI/$2.key")
contexts:
- name: rofs-kube
  context: {cluster: rofs-kube, user: $1}
current-context: rofs-kube
EOF
    chmod 600 "$f.tmp"; mv "$f.tmp" "$f"
}
kubeconfig admin admin
kubeconfig controller-manager controller-manager
kubeconfig scheduler scheduler
kubeconfig kubelet kubelet

# --- process helpers --------------------------------------------------------------------------
running() { local p; p="$(cat "$RUN/$1.pid" 2>/dev/null)" && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
start() { # NAME CMD...: start a daemon unless running; log in $LOGS/NAME.log
    local name="$1"; shift
    if running "$name"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; return 0; fi
    log "starting $name"
    # 8>&-: the daemons must not hold the kube-up/kube-down lock
    setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null 8>&- &
    echo $! > "$RUN/$name.pid"
}
wait_for() { # NAME DESCRIPTION CMD...: wait until CMD succeeds; on timeout the log tail, exit 1
    local name="$1" what="$2"; shift 2
    local t0; t0=$(date +%s)
    until "$@" >/dev/null 2>&1; do
        if ! running "$name" || [ $(( $(date +%s) - t0 )) -ge "$TIMEOUT" ]; then
            printf '[kube-up] ERROR: %s: %s not reached after %ss (%s); last lines of %s:\n' \
                "$name" "$what" "$(( $(date +%s) - t0 ))" "$(running "$name" && echo running || echo exited)" \
                "$LOGS/$name.log" >&2
            tail -n 40 "$LOGS/$name.log" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
    log "$name: $what ($(( $(date +%s) - t0 ))s)"
}
healthz() { # URL: 200 "ok" with the admin client certificate
    curl -sf --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$1" | grep -qx ok
}
healthz_insecure() { curl -skf --max-time 3 "$1" | grep -qx ok; }

# --- etcd ---------------------------------------------------------------------------------------
start etcd "$BIN/etcd" --name rofs-kube --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "rofs-kube=http://127.0.0.1:$ETCD_PEER_PORT" \
    --listen-metrics-urls "http://127.0.0.1:$ETCD_METRICS_PORT" \
    --quota-backend-bytes 2147483648 --snapshot-count 10000 --log-level warn
wait_for etcd "health" sh -c "curl -sf --max-time 3 http://127.0.0.1:$ETCD_METRICS_PORT/health | grep -q '\"health\":\"true\"'"
t_etcd=$(date +%s)

# --- kube-apiserver -----------------------------------------------------------------------------
start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" --advertise-address "$NODE_IP" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,NodeRestriction,PodSecurity,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota \
    --enable-aggregator-routing=true \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --feature-gates ImageVolume=true \
    --allow-privileged=true --profiling=false --v=1
wait_for kube-apiserver "/readyz" healthz "https://127.0.0.1:$APISERVER_PORT/readyz"
t_api=$(date +%s)

# --- controller-manager and scheduler ----------------------------------------------------------
start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$CONTROLLER_MANAGER_PORT" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true --service-cluster-ip-range "$SERVICE_CIDR" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --leader-elect=false --profiling=false --v=1
start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" \
    --leader-elect=false --profiling=false --v=1
wait_for kube-controller-manager "/healthz" healthz_insecure "https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz"
wait_for kube-scheduler "/healthz" healthz_insecure "https://127.0.0.1:$SCHEDULER_PORT/healthz"
t_cp=$(date +%s)

# --- containerd ----------------------------------------------------------------------------------
cat > "$STATE/cni/net.d/10-rofs-kube.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "rofs-kube",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR"}]]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
cat > "$STATE/containerd/config.toml" <<EOF
# containerd 2 for the rofs test cluster (scripts/kube-up.sh); own root, state and socket.
version = 3
root = "$STATE/containerd/root"
state = "$CONTAINERD_STATE"
imports = []
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  # root here lacks CAP_SYS_RESOURCE: an oom_score_adj below containerd's own (the kubelet asks
  # -998 for every pause container) fails in runc ("can't get final child's PID from pipe:
  # EOF"); clamp it to containerd's own instead
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$STATE/cni/net.d"
EOF
# PATH: containerd starts the shim it finds there (ours, not Debian's 1.6 one).
start containerd env PATH="$CBIN:$PATH" "$CBIN/containerd" --config "$STATE/containerd/config.toml"
wait_for containerd "socket" ctr --address "$CONTAINERD_SOCK" version

# --- pause image (Debian's catatonit in pause mode) ---------------------------------------------
if ! ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls -q | grep -x "$PAUSE_IMAGE" >/dev/null; then
    if ! timeout 60 podman image exists "$PAUSE_IMAGE"; then
        ctx="$(mktemp -d)"
        cp /usr/bin/catatonit "$ctx/catatonit"
        printf 'FROM scratch\nCOPY catatonit /catatonit\nENTRYPOINT ["/catatonit", "-P"]\n' > "$ctx/Containerfile"
        timeout 300 podman build -q -t "$PAUSE_IMAGE" "$ctx" >/dev/null
        rm -rf "$ctx"
    fi
    "$repo/scripts/kube-load-image.sh" "$PAUSE_IMAGE"
fi

# --- kubelet -------------------------------------------------------------------------------------
cat > "$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
# no systemd here
cgroupDriver: cgroupfs
# ImageVolume: beta and off by default in 1.34 (on from 1.35); containerd >= 2.1 supports it.
featureGates: {ImageVolume: true$( [ "${ROFS_KUBE_EVENTED_PLEG:-0}" = 1 ] && printf ', EventedPLEG: true')}
failSwapOn: false
# without CAP_SYS_RESOURCE the kubelet cannot lower its own OOM score (default -999)
oomScoreAdj: 0
# Small disks: evict only when really full; never garbage-collect the loaded test images
# (they cannot be pulled again).
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# ConfigMap volumes are refreshed on the pod's periodic sync (default 1m); 10s keeps the sync
# tests short (docs/cluster.md).
syncFrequency: 10s
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
EOF
start kubelet "$BIN/kubelet" --config "$STATE/kubelet/config.yaml" \
    --kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$STATE/kubelet" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1
wait_for kubelet "/healthz" sh -c "curl -sf --max-time 3 http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz | grep -qx ok"
export KUBECONFIG="$STATE/admin.kubeconfig"
wait_for kubelet "node $NODE_NAME Ready" sh -c \
    "'$BIN/kubectl' get node '$NODE_NAME' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
wait_for kube-controller-manager "ServiceAccount default/default" "$BIN/kubectl" -n default get serviceaccount default
t_end=$(date +%s)

log "up in $((t_end - t_start))s: binaries $((t_build - t_start))s, etcd $((t_etcd - t_build))s," \
    "apiserver $((t_api - t_etcd))s, controller-manager+scheduler $((t_cp - t_api))s," \
    "containerd+kubelet+node Ready $((t_end - t_cp))s"
echo "export KUBECONFIG=$STATE/admin.kubeconfig PATH=$BIN:\$PATH"
