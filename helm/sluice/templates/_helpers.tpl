{{/* Names, labels and the values the templates compute. */}}

{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.fullname" -}}
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

{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sluice
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sluice.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "sluice.headlessName" -}}
{{- printf "%s-headless" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.headlessEnabled" -}}
{{- if or .Values.headlessService.enabled (eq .Values.mode "statefulset") }}true{{ end }}
{{- end }}

{{/* Worker processes: the set number, or the CPU limit rounded up. */}}
{{- define "sluice.workers" -}}
{{- if gt (int .Values.workers) 0 }}
{{- .Values.workers }}
{{- else }}
{{- $cpu := toString (dig "limits" "cpu" "1" .Values.resources) }}
{{- /* At most 256, as `sluice serve --workers` takes. */}}
{{- if hasSuffix "m" $cpu }}
{{- min 256 (max 1 (ceil (divf (trimSuffix "m" $cpu | float64) 1000))) }}
{{- else }}
{{- min 256 (max 1 (ceil ($cpu | float64))) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The server's defaults the chart computes with when .Values.config leaves them out; a test
keeps them equal to the server's own.
*/}}
{{- define "sluice.serverDefaults" -}}
drain_timeout_s: 30
delivery_timeout_ms: 30000
spool_drain_timeout_s: 20
{{- end }}

{{/* The drain, delivery and spool budget the grace period must exceed, in seconds. */}}
{{- define "sluice.shutdownBudgetSeconds" -}}
{{- $defaults := include "sluice.serverDefaults" . | fromYaml }}
{{- $drain := dig "server" "drain_timeout_s" nil .Values.config | default $defaults.drain_timeout_s | float64 }}
{{- $delivery := dig "kafka" "delivery_timeout_ms" nil .Values.config | default $defaults.delivery_timeout_ms | float64 }}
{{- $delivery = divf $delivery 1000 }}
{{- $spool := 0.0 }}
{{- if .Values.spool.enabled }}
{{- $spool = dig "spool" "drain_timeout_s" nil .Values.config | default $defaults.spool_drain_timeout_s | float64 }}
{{- end }}
{{- ceil (addf (.Values.preStopSleepSeconds | float64) $drain $delivery $spool) }}
{{- end }}

{{/* Bytes in a Kubernetes quantity such as 2Gi, 500M or 1073741824. */}}
{{- define "sluice.bytes" -}}
{{- $quantity := toString . }}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 }}
{{- $suffix := regexFind "[A-Za-z]+$" $quantity }}
{{- $number := trimSuffix $suffix $quantity | float64 }}
{{- if $suffix }}
{{- if not (hasKey $units $suffix) }}
{{- fail (printf "cannot read %q as bytes: use Ki, Mi, Gi, Ti, k, M, G or T" $quantity) }}
{{- end }}
{{- mulf $number (get $units $suffix) | int64 }}
{{- else }}
{{- $number | int64 }}
{{- end }}
{{- end }}

{{/* Each worker's spool.max_bytes: nine tenths of the spool volume, shared by the workers. */}}
{{- define "sluice.spoolMaxBytes" -}}
{{- $volume := ternary .Values.spool.persistence.size .Values.spool.sizeLimit (eq .Values.mode "statefulset") }}
{{- $bytes := include "sluice.bytes" $volume | float64 }}
{{- divf (mulf $bytes 0.9) (include "sluice.workers" . | float64) | int64 }}
{{- end }}

{{- define "sluice.terminationGracePeriodSeconds" -}}
{{- $budget := include "sluice.shutdownBudgetSeconds" . | int }}
{{- if gt (int .Values.terminationGracePeriodSeconds) 0 }}
{{- if le (int .Values.terminationGracePeriodSeconds) $budget }}
{{- fail (printf "terminationGracePeriodSeconds=%d must exceed preStop + drain + delivery + spool flush = %d s" (int .Values.terminationGracePeriodSeconds) $budget) }}
{{- end }}
{{- .Values.terminationGracePeriodSeconds }}
{{- else }}
{{- add $budget 10 }}
{{- end }}
{{- end }}

{{- define "sluice.tokensSecretName" -}}
{{- default (printf "%s-tokens" (include "sluice.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{- define "sluice.kafkaSecretName" -}}
{{- default (printf "%s-kafka" (include "sluice.fullname" .)) .Values.kafka.sasl.existingSecret }}
{{- end }}

{{/* librdkafka's security.protocol from the TLS and SASL switches. */}}
{{- define "sluice.kafkaSecurityProtocol" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.sasl.enabled }}SASL_SSL
{{- else if .Values.kafka.tls.enabled }}SSL
{{- else if .Values.kafka.sasl.enabled }}SASL_PLAINTEXT
{{- else }}PLAINTEXT
{{- end }}
{{- end }}

{{/* Changes to the Secrets the chart renders roll the pods, as config changes do. */}}
{{- define "sluice.secretsChecksum" -}}
{{- list .Values.auth .Values.kafka.sasl | toJson | sha256sum }}
{{- end }}

{{/*
The downstream components (rollup, query): names and labels, called with (list $ "rollup").
Their app.kubernetes.io/name is <name>-<component>, never the gateway's, so no gateway
selector (Services, PodDisruptionBudget, NetworkPolicy, topology spread) matches their pods.
*/}}
{{- define "sluice.componentName" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
{{- printf "%s-%s" (include "sluice.name" $root | trunc (int (sub 62 (len $component))) | trimSuffix "-") $component }}
{{- end }}

{{/* <fullname>-<suffix...>, the full name shortened so the suffix always fits in 63. */}}
{{- define "sluice.componentFullname" -}}
{{- $root := index . 0 }}
{{- $suffix := rest . | join "-" }}
{{- printf "%s-%s" (include "sluice.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{- define "sluice.componentSelectorLabels" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 -}}
app.kubernetes.io/name: {{ include "sluice.componentName" (list $root $component) }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ $component }}
{{- end }}

{{/* (list $ component) or (list $ component role): role, e.g. metrics, names the object's part. */}}
{{- define "sluice.componentLabels" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 -}}
helm.sh/chart: {{ include "sluice.chart" $root }}
app.kubernetes.io/name: {{ include "sluice.componentName" (list $root $component) }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ last . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: sluice
{{- end }}

{{- define "sluice.storeSecretName" -}}
{{- default (include "sluice.componentFullname" (list . "rollup" "store")) .Values.rollup.store.existingSecret }}
{{- end }}

{{/* Secret changes roll a component's pods: the roll-up's Kafka password, the query's tokens. */}}
{{- define "sluice.componentSecretsChecksum" -}}
{{- $root := index . 0 }}
{{- $own := ternary $root.Values.kafka.sasl $root.Values.auth (eq (index . 1) "rollup") }}
{{- list $own $root.Values.rollup.store | toJson | sha256sum }}
{{- end }}

{{/*
The alert groups of files/alerts.yml without the alerts named in prometheusRule.disabled (a
name that is not an alert there fails the render, so a typo never leaves an alert on), then
prometheusRule.additionalRules as a group of their own.
*/}}
{{- define "sluice.alertGroups" -}}
{{- $disabled := .Values.prometheusRule.disabled }}
{{- $known := list }}
{{- $groups := list }}
{{- range (.Files.Get "files/alerts.yml" | fromYaml).groups }}
{{- $rules := list }}
{{- range .rules }}
{{- $known = append $known .alert }}
{{- if not (has .alert $disabled) }}
{{- $rules = append $rules . }}
{{- end }}
{{- end }}
{{- if $rules }}
{{- $groups = append $groups (set (deepCopy .) "rules" $rules) }}
{{- end }}
{{- end }}
{{- range $disabled }}
{{- if not (has . $known) }}
{{- fail (printf "prometheusRule.disabled: %s is not one of Sluice's alerts (%s)" . (join ", " $known)) }}
{{- end }}
{{- end }}
{{- with .Values.prometheusRule.additionalRules }}
{{- $groups = append $groups (dict "name" "sluice-additional" "rules" .) }}
{{- end }}
{{- toYaml $groups }}
{{- end }}
