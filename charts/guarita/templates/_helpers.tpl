{{/* Names. With the release called "guarita" every object is guarita-<component>, which are the
defaults the webhook and the operator assume (guarita-webhook, guarita-operator). */}}
{{- define "guarita.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "guarita.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "guarita.webhook.name" -}}{{ include "guarita.fullname" . }}-webhook{{- end -}}
{{- define "guarita.webhook.tlsSecret" -}}{{ include "guarita.fullname" . }}-webhook-tls{{- end -}}
{{- define "guarita.webhook.certificate" -}}{{ include "guarita.fullname" . }}-webhook{{- end -}}
{{- define "guarita.webhook.issuer" -}}{{ include "guarita.fullname" . }}-selfsigned{{- end -}}
{{- define "guarita.operator.name" -}}{{ include "guarita.fullname" . }}-operator{{- end -}}
{{- define "guarita.operator.tlsSecret" -}}{{ include "guarita.fullname" . }}-operator-tls{{- end -}}
{{- define "guarita.operator.certificate" -}}{{ include "guarita.fullname" . }}-operator{{- end -}}
{{/* The ConfigMap with the operator's CA that the webhook mounts into sidecars; empty: system roots. */}}
{{- define "guarita.operator.caConfigMap" -}}
{{- if .Values.operator.tls.caConfigMap -}}
{{- .Values.operator.tls.caConfigMap -}}
{{- else if eq .Values.tls.mode "selfManaged" -}}
{{- printf "%s-operator-ca" (include "guarita.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- define "guarita.operator.storeKeySecret" -}}
{{- .Values.operator.storeKeySecret | default (printf "%s-store-key" (include "guarita.fullname" .)) -}}
{{- end -}}
{{- define "guarita.operator.lease" -}}{{ include "guarita.fullname" . }}-operator-leader{{- end -}}
{{- define "guarita.operator.claim" -}}
{{- .Values.operator.store.persistence.existingClaim | default (printf "%s-operator-store" (include "guarita.fullname" .)) -}}
{{- end -}}
{{- define "guarita.operator.url" -}}
https://{{ include "guarita.operator.name" . }}.{{ .Release.Namespace }}.svc:{{ .Values.operator.port }}
{{- end -}}

{{- define "guarita.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; "guarita.labels" takes (dict "ctx" $ "component" "webhook"). */}}
{{- define "guarita.labels" -}}
helm.sh/chart: {{ include "guarita.chart" .ctx }}
{{ include "guarita.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: guarita
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "guarita.selectorLabels" -}}
app.kubernetes.io/name: {{ include "guarita.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{/* "repo:tag" or "repo@digest" of an image block, falling back to the top-level image. */}}
{{- define "guarita.imageRef" -}}
{{- $img := .img -}}
{{- $top := .ctx.Values.image -}}
{{- $repo := $img.repository | default $top.repository -}}
{{- $digest := $img.digest | default "" -}}
{{- $tag := $img.tag | default "" -}}
{{- if and (not $digest) (not $tag) (not $img.repository) -}}
{{- $digest = $top.digest -}}
{{- $tag = $top.tag -}}
{{- end -}}
{{- if $digest -}}
{{- printf "%s@%s" $repo $digest -}}
{{- else -}}
{{- printf "%s:%s" $repo ($tag | default .ctx.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "guarita.image" -}}
{{- include "guarita.imageRef" (dict "ctx" . "img" .Values.image) -}}
{{- end -}}

{{- define "guarita.sidecar.image" -}}
{{- include "guarita.imageRef" (dict "ctx" . "img" .Values.sidecar.image) -}}
{{- end -}}

{{- define "guarita.sidecar.pullPolicy" -}}
{{- .Values.sidecar.image.pullPolicy | default .Values.image.pullPolicy -}}
{{- end -}}

{{/* The pod and container hardening shared by the operator and the webhook. */}}
{{- define "guarita.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "guarita.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "guarita.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Namespaces the pod webhooks never call: the system ones, the release's, and the user's list. */}}
{{- define "guarita.excludedNamespaces" -}}
{{- $list := list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace -}}
{{- range .Values.webhook.excludedNamespaces }}{{ $list = append $list . }}{{ end -}}
{{- toJson ($list | uniq) -}}
{{- end -}}

{{/* Subjects of one sidecar.rbac.namespaces entry: its service accounts, or all of the namespace's. */}}
{{- define "guarita.sidecarSubjects" -}}
{{- $ns := .namespace -}}
{{- if .serviceAccounts }}
{{- range .serviceAccounts }}
- kind: ServiceAccount
  name: {{ . }}
  namespace: {{ $ns }}
{{- end }}
{{- else }}
- kind: Group
  apiGroup: rbac.authorization.k8s.io
  name: system:serviceaccounts:{{ $ns }}
{{- end }}
{{- end -}}

{{/* RoleBindings (entries with a namespace) or ClusterRoleBindings (without) of a ClusterRole.
Takes (dict "ctx" $ "role" NAME "bindings" LIST). */}}
{{- define "guarita.bindings" -}}
{{- $ctx := .ctx -}}
{{- $role := .role -}}
{{- range $i, $b := .bindings }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ if $b.namespace }}RoleBinding{{ else }}ClusterRoleBinding{{ end }}
metadata:
  name: {{ $role }}-{{ $i }}
  {{- with $b.namespace }}
  namespace: {{ . }}
  {{- end }}
  labels:
    {{- include "guarita.labels" (dict "ctx" $ctx "component" "rbac") | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $role }}
subjects:
  {{- range $b.subjects }}
  - kind: {{ .kind }}
    name: {{ .name }}
    {{- if eq .kind "ServiceAccount" }}
    namespace: {{ .namespace | default $b.namespace }}
    {{- else }}
    apiGroup: rbac.authorization.k8s.io
    {{- end }}
  {{- end }}
{{- end }}
{{- end -}}
