{{/* Names and labels. */}}
{{- define "trimwire.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "trimwire.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "trimwire.selectorLabels" -}}
app.kubernetes.io/name: {{ include "trimwire.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "trimwire.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "trimwire.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "trimwire.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "trimwire.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image of the server container: the GPU image in the GPU variant. */}}
{{- define "trimwire.image" -}}
{{- $image := ternary .Values.gpu.image .Values.image .Values.gpu.enabled }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}

{{- define "trimwire.imagePullPolicy" -}}
{{- ternary .Values.gpu.image.pullPolicy .Values.image.pullPolicy .Values.gpu.enabled }}
{{- end }}

{{/* Fixed paths, the same as in deploy/container/Containerfile.*. */}}
{{- define "trimwire.configDir" -}}/etc/trimwire{{- end }}
{{- define "trimwire.cacheDir" -}}/var/cache/trimwire{{- end }}

{{/* Pod-level security: restricted-v2 compatible; no fixed IDs on OpenShift (the SCC assigns them). */}}
{{- define "trimwire.podSecurityContext" -}}
runAsNonRoot: true
{{- if not .Values.openshift.enabled }}
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Every container: init, server and the helm test hook. */}}
{{- define "trimwire.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The ext_proc message timeout as an Envoy duration ("5s", "2.5s"). */}}
{{- define "trimwire.messageTimeout" -}}
{{- printf "%ss" (toString (divf .Values.extProc.messageTimeoutMs 1000)) }}
{{- end }}

{{/* Renders fail early, with a message, on combinations the schema cannot express. */}}
{{- define "trimwire.checks" -}}
{{- $deadline := int (default 2500 .Values.config.request_deadline_ms) }}
{{- if ge $deadline (int .Values.extProc.messageTimeoutMs) }}
{{- fail (printf "config.request_deadline_ms (%d) must be below extProc.messageTimeoutMs (%d): trimwire has to fail open before Envoy gives up on it" $deadline (int .Values.extProc.messageTimeoutMs)) }}
{{- end }}
{{- $model := .Values.kompress.model }}
{{- if and (eq $model.source "pvc") (not $model.pvc.claimName) }}
{{- fail "kompress.model.source is pvc: set kompress.model.pvc.claimName" }}
{{- end }}
{{- if and (eq $model.source "volume") (not $model.volume) }}
{{- fail "kompress.model.source is volume: set kompress.model.volume to a volume source, e.g. {nfs: {server: ..., path: ...}}" }}
{{- end }}
{{- if and (eq $model.source "image") (not (and $model.image.repository $model.image.tag)) }}
{{- fail "kompress.model.source is image: set kompress.model.image.repository and kompress.model.image.tag" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled .Values.metrics.podMonitor.enabled }}
{{- fail "enable metrics.serviceMonitor or metrics.podMonitor, not both: each pod would be scraped twice" }}
{{- end }}
{{- end }}

{{- define "trimwire.apiEnabled" -}}
{{- if ternary .Values.config.api_enabled true (hasKey .Values.config "api_enabled") }}true{{ end }}
{{- end }}

{{- define "trimwire.kompressDevice" -}}
{{- default (ternary "cuda" "cpu" .Values.gpu.enabled) .Values.kompress.device }}
{{- end }}

{{/* drain_grace_s rounded up, plus the preStop sleep and a margin for the workers to exit. */}}
{{- define "trimwire.terminationGracePeriodSeconds" -}}
{{- $drain := int (ceil (default 15 .Values.config.drain_grace_s)) }}
{{- add $drain (int .Values.preStopSleepSeconds) (int .Values.terminationGraceMarginSeconds) }}
{{- end }}
