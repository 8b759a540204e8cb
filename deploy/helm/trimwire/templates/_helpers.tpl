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

{{/* fullname plus a suffix, still at most 63 characters: the fullname is shortened, never the
suffix, so names stay unique (a Service name is a DNS label; the API server refuses longer ones).
Call as (include "trimwire.suffixed" (list . "headless")). */}}
{{- define "trimwire.suffixed" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- $base := include "trimwire.fullname" $ctx | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $base $suffix }}
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

{{/* "true" on OpenShift: openshift.enabled when set, else whether the cluster serves the SCC API. */}}
{{- define "trimwire.openshift" -}}
{{- if kindIs "invalid" .Values.openshift.enabled }}
{{- if .Capabilities.APIVersions.Has "security.openshift.io/v1" }}true{{ end }}
{{- else if .Values.openshift.enabled }}true{{ end }}
{{- end }}

{{/* Pod-level security: restricted-v2 compatible; no fixed IDs on OpenShift (the SCC assigns them);
podSecurityContext is merged over it. */}}
{{- define "trimwire.podSecurityContext" -}}
{{- $ctx := dict "runAsNonRoot" true "seccompProfile" (dict "type" "RuntimeDefault") }}
{{- if not (include "trimwire.openshift" .) }}
{{- $_ := set $ctx "runAsUser" .Values.podSecurity.runAsUser }}
{{- $_ := set $ctx "runAsGroup" .Values.podSecurity.runAsGroup }}
{{- $_ := set $ctx "fsGroup" .Values.podSecurity.fsGroup }}
{{- end }}
{{- include "trimwire.overlay" (list $ctx .Values.podSecurityContext) }}
{{- end }}

{{/* Every container: init, server and the helm test hook; securityContext is merged over it. */}}
{{- define "trimwire.containerSecurityContext" -}}
{{- $ctx := dict "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "runAsNonRoot" true
      "capabilities" (dict "drop" (list "ALL")) "seccompProfile" (dict "type" "RuntimeDefault") }}
{{- include "trimwire.overlay" (list $ctx .Values.securityContext) }}
{{- end }}

{{/* A security context with an override: each key set there replaces the chart's, a null drops it. */}}
{{- define "trimwire.overlay" -}}
{{- $merged := deepCopy (index . 0) }}
{{- range $key, $value := (default dict (index . 1)) }}
{{- if kindIs "invalid" $value }}
{{- $_ := unset $merged $key }}
{{- else }}
{{- $_ := set $merged $key $value }}
{{- end }}
{{- end }}
{{- toYaml $merged }}
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

{{/* The standard OpenTelemetry variables the OTLP exporter and the SDK read (tracing.enabled). */}}
{{- define "trimwire.otelEnv" -}}
{{- $t := .Values.tracing -}}
- name: OTEL_SERVICE_NAME
  value: {{ $t.serviceName | quote }}
{{- with $t.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $t.protocol | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $t.sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $t.samplerArg | toString | quote }}
{{- end }}
