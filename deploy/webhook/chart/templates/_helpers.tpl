{{- define "rofs.name" -}}rofs-webhook{{- end -}}

{{- define "rofs.fullname" -}}
{{- if eq .Release.Name "rofs-webhook" -}}rofs-webhook{{- else -}}{{ printf "%s-rofs-webhook" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "rofs.labels" -}}
app.kubernetes.io/name: {{ include "rofs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "rofs.selector" -}}
app.kubernetes.io/name: {{ include "rofs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rofs.tlsSecret" -}}{{ include "rofs.fullname" . }}-tls{{- end -}}

{{/* The webhook entries; `caBundle` is passed in (empty with cert-manager). */}}
{{- define "rofs.webhooks" -}}
{{- $ctx := .ctx -}}
{{- $excluded := concat (list $ctx.Release.Namespace) $ctx.Values.webhook.excludedNamespaces | uniq -}}
{{- $label := $ctx.Values.webhook.optInLabel -}}
{{- range $which := (ternary (list "namespace" "pod") (list "namespace") $ctx.Values.webhook.podOptIn) }}
  - name: {{ $which }}.pods.rofs.io
    admissionReviewVersions: ["v1"]
    clientConfig:
      service:
        name: {{ include "rofs.fullname" $ctx }}
        namespace: {{ $ctx.Release.Namespace }}
        path: /mutate
        port: 443
      {{- with $.caBundle }}
      caBundle: {{ . }}
      {{- end }}
    rules:
      - operations: ["CREATE"]
        apiGroups: [""]
        apiVersions: ["v1"]
        resources: ["pods"]
        scope: Namespaced
    namespaceSelector:
      matchExpressions:
        - key: {{ $label }}
          operator: {{ ternary "In" "NotIn" (eq $which "namespace") }}
          values: ["enabled"]
        - key: kubernetes.io/metadata.name
          operator: NotIn
          values: {{ toJson $excluded }}
    objectSelector:
      {{- if eq $which "namespace" }}
      matchExpressions:
        - key: {{ $label }}
          operator: NotIn
          values: ["disabled"]
      {{- else }}
      matchLabels:
        {{ $label }}: enabled
      {{- end }}
    matchPolicy: Equivalent
    failurePolicy: {{ $ctx.Values.webhook.failurePolicy }}
    sideEffects: None
    timeoutSeconds: {{ $ctx.Values.webhook.timeoutSeconds }}
    reinvocationPolicy: {{ $ctx.Values.webhook.reinvocationPolicy }}
{{- end }}
{{- end -}}
