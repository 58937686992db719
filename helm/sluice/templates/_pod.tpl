{{/* The pod template shared by the Deployment and the StatefulSet. */}}

{{- define "sluice.probe" -}}
{{- $root := index . 0 }}
{{- $probe := index . 1 }}
{{- $path := index . 2 }}
{{- /* The kubelet's gRPC probe speaks neither TLS nor loopback (auth.mode none listens there). */}}
{{- if or $root.Values.tls.enabled (ne $root.Values.auth.mode "token") }}
httpGet:
  path: {{ $path }}
  port: metrics
{{- else }}
grpc:
  port: {{ $root.Values.ports.grpc }}
  {{- with $probe.service }}
  service: {{ . }}
  {{- end }}
{{- end }}
periodSeconds: {{ $probe.periodSeconds }}
failureThreshold: {{ $probe.failureThreshold }}
timeoutSeconds: {{ $probe.timeoutSeconds }}
{{- end }}

{{/* The environment of the server and of the topics Job: secrets arrive as overrides. */}}
{{- define "sluice.env" -}}
{{- /* First: later entries refer to them as $(POD_NAME) and $(POD_NAMESPACE). */ -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: OTEL_SERVICE_NAME
  value: {{ include "sluice.name" . }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME)
{{- if .Values.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.tracing.otlpEndpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ .Values.tracing.sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .Values.tracing.samplerArg | quote }}
{{- end }}
{{- if eq .Values.auth.mode "token" }}
{{ include "sluice.tokensEnv" . }}
{{- end }}
{{- if .Values.kafka.sasl.enabled }}
{{ include "sluice.kafkaPasswordEnv" . }}
{{- end }}
{{- with .Values.extraEnv }}
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end }}

{{/* The bearer tokens' digests, for the gateway and the query API. */}}
{{- define "sluice.tokensEnv" -}}
- name: SLUICE__AUTH__TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ include "sluice.tokensSecretName" . }}
      key: {{ .Values.auth.existingSecretKey }}
{{- end }}

{{/* The Kafka SASL password, for the gateway's producer and the roll-up's consumer. */}}
{{- define "sluice.kafkaPasswordEnv" -}}
- name: SLUICE__KAFKA__CLIENT__SASL.PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "sluice.kafkaSecretName" . }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}

{{/* The Kafka CA and client certificate, where kafka.client's ssl.* properties expect them. */}}
{{- define "sluice.kafkaVolumeMounts" -}}
{{- $paths := include "sluice.paths" . | fromYaml -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: {{ $paths.kafkaCA }}
  readOnly: true
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.clientCertSecret }}
- name: kafka-client
  mountPath: {{ $paths.kafkaClient }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "sluice.kafkaVolumes" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.clientCertSecret }}
- name: kafka-client
  secret:
    secretName: {{ .Values.kafka.tls.clientCertSecret }}
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}

{{/* Every file the config refers to, where the config expects it. */}}
{{- define "sluice.volumeMounts" -}}
{{- $paths := include "sluice.paths" . | fromYaml -}}
- name: config
  mountPath: {{ dir $paths.config }}
  readOnly: true
- name: spool
  mountPath: {{ $paths.spool }}
- name: tmp
  mountPath: {{ $paths.tmp }}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: {{ $paths.tls }}
  readOnly: true
{{- if .Values.tls.clientCASecret }}
- name: client-ca
  mountPath: {{ $paths.clientCA }}
  readOnly: true
{{- end }}
{{- end }}
{{- include "sluice.kafkaVolumeMounts" . }}
{{- end }}

{{/* The volumes behind sluice.volumeMounts, but the spool: the workload decides where it lives. */}}
{{- define "sluice.volumes" -}}
{{- $paths := include "sluice.paths" . | fromYaml -}}
- name: config
  configMap:
    name: {{ include "sluice.fullname" . }}
    items:
      - key: config.yaml
        path: {{ base $paths.config }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ required "tls.secretName is required with tls.enabled" .Values.tls.secretName }}
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- if .Values.tls.clientCASecret }}
- name: client-ca
  secret:
    secretName: {{ .Values.tls.clientCASecret }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}
{{- include "sluice.kafkaVolumes" . }}
{{- end }}

{{- define "sluice.podTemplate" -}}
{{- $paths := include "sluice.paths" . | fromYaml -}}
metadata:
  labels:
    {{- include "sluice.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include "sluice.config" . | sha256sum }}
    checksum/secrets: {{ include "sluice.secretsChecksum" . }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "sluice.serviceAccountName" . }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ include "sluice.terminationGracePeriodSeconds" . }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: sluice
      image: {{ include "sluice.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - serve
        - --config
        - {{ $paths.config }}
        - --workers
        - {{ include "sluice.workers" . | quote }}
      ports:
        - name: grpc
          containerPort: {{ .Values.ports.grpc }}
          protocol: TCP
        - name: metrics
          containerPort: {{ .Values.ports.metrics }}
          protocol: TCP
        {{- if .Values.httpIngest.enabled }}
        - name: http
          containerPort: {{ .Values.ports.http }}
          protocol: TCP
        {{- end }}
      env:
        {{- include "sluice.env" . | nindent 8 }}
      startupProbe:
        {{- include "sluice.probe" (list . .Values.probes.startup "/healthz") | nindent 8 }}
      livenessProbe:
        {{- include "sluice.probe" (list . .Values.probes.liveness "/healthz") | nindent 8 }}
      readinessProbe:
        {{- include "sluice.probe" (list . .Values.probes.readiness "/readyz") | nindent 8 }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ .Values.preStopSleepSeconds }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        {{- include "sluice.volumeMounts" . | nindent 8 }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- include "sluice.volumes" . | nindent 4 }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- if ne .Values.mode "statefulset" }}
    - name: spool
      emptyDir:
        sizeLimit: {{ .Values.spool.sizeLimit }}
    {{- end }}
  {{- if .Values.topologySpread.enabled }}
  topologySpreadConstraints:
    {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
    - topologyKey: {{ . }}
      maxSkew: {{ $.Values.topologySpread.maxSkew }}
      whenUnsatisfiable: {{ $.Values.topologySpread.whenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "sluice.selectorLabels" $ | nindent 10 }}
      {{- if ne $.Values.mode "statefulset" }}
      matchLabelKeys:
        - pod-template-hash
      {{- end }}
    {{- end }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* An HTTP probe on a component's ops listener: (list path periodSeconds failureThreshold). */}}
{{- define "sluice.opsProbe" -}}
httpGet:
  path: {{ index . 0 }}
  port: metrics
periodSeconds: {{ index . 1 }}
failureThreshold: {{ index . 2 }}
timeoutSeconds: 2
{{- end }}

{{/*
The pod template of a downstream component, (list $ "rollup") or (list $ "query"): the
gateway's image and pod security, the component's own config file, ports, Secrets,
resources and scheduling. Probes use the ops listener: /healthz (live while the process
serves) and /readyz.
*/}}
{{- define "sluice.componentPodTemplate" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
{{- $values := index $root.Values $component }}
{{- $paths := include "sluice.paths" $root | fromYaml }}
{{- $query := eq $component "query" }}
{{- if and $query (le (int $values.terminationGracePeriodSeconds) (int $values.preStopSleepSeconds)) }}
{{- fail (printf "query.terminationGracePeriodSeconds=%d must exceed query.preStopSleepSeconds=%d" (int $values.terminationGracePeriodSeconds) (int $values.preStopSleepSeconds)) }}
{{- end -}}
metadata:
  labels:
    {{- include "sluice.componentLabels" (list $root $component) | nindent 4 }}
    {{- with $values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (printf "sluice.%sConfig" $component) $root | sha256sum }}
    checksum/secrets: {{ include "sluice.componentSecretsChecksum" (list $root $component) }}
    {{- with $values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "sluice.serviceAccountName" $root }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
  {{- with $values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ $component }}
      image: {{ include "sluice.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        - {{ $component }}
        - --config
        - {{ $paths.config }}
      ports:
        {{- if $query }}
        - name: api
          containerPort: {{ $values.ports.api }}
          protocol: TCP
        {{- end }}
        - name: metrics
          containerPort: {{ $values.ports.metrics }}
          protocol: TCP
      env:
        - name: PYTHONDONTWRITEBYTECODE
          value: "1"
        - name: SLUICE__ROLLUP__STORE__POSTGRES_DSN
          valueFrom:
            secretKeyRef:
              name: {{ include "sluice.storeSecretName" $root }}
              key: {{ $root.Values.rollup.store.existingSecretKey }}
        {{- if and $query (eq $root.Values.auth.mode "token") }}
        {{- include "sluice.tokensEnv" $root | nindent 8 }}
        {{- end }}
        {{- if and (not $query) $root.Values.kafka.sasl.enabled }}
        {{- include "sluice.kafkaPasswordEnv" $root | nindent 8 }}
        {{- end }}
        {{- with $values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- /* The ops listener starts once the store is open: give PostgreSQL a minute. */}}
      startupProbe:
        {{- include "sluice.opsProbe" (list "/healthz" 2 30) | nindent 8 }}
      livenessProbe:
        {{- include "sluice.opsProbe" (list "/healthz" 10 3) | nindent 8 }}
      readinessProbe:
        {{- include "sluice.opsProbe" (list "/readyz" 5 2) | nindent 8 }}
      {{- if and $query (gt (int $values.preStopSleepSeconds) 0) }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ $values.preStopSleepSeconds }}
      {{- end }}
      resources:
        {{- toYaml $values.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: {{ dir $paths.config }}
          readOnly: true
        - name: tmp
          mountPath: {{ $paths.tmp }}
        {{- if $query }}
        {{- if $values.tls.enabled }}
        - name: tls
          mountPath: {{ $paths.queryTLS }}
          readOnly: true
        {{- if $values.tls.clientCASecret }}
        - name: client-ca
          mountPath: {{ $paths.queryClientCA }}
          readOnly: true
        {{- end }}
        {{- end }}
        {{- else }}
        {{- with include "sluice.kafkaVolumeMounts" $root | trim }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- end }}
        {{- with $values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "sluice.componentFullname" (list $root $component) }}
        items:
          - key: config.yaml
            path: {{ base $paths.config }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if $query }}
    {{- if $values.tls.enabled }}
    - name: tls
      secret:
        secretName: {{ required "query.tls.secretName is required with query.tls.enabled" $values.tls.secretName }}
        items:
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
    {{- if $values.tls.clientCASecret }}
    - name: client-ca
      secret:
        secretName: {{ $values.tls.clientCASecret }}
        items:
          - key: ca.crt
            path: ca.crt
    {{- end }}
    {{- end }}
    {{- else }}
    {{- with include "sluice.kafkaVolumes" $root | trim }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- end }}
    {{- with $values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if $root.Values.topologySpread.enabled }}
  topologySpreadConstraints:
    {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
    - topologyKey: {{ . }}
      maxSkew: {{ $root.Values.topologySpread.maxSkew }}
      whenUnsatisfiable: {{ $root.Values.topologySpread.whenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "sluice.componentSelectorLabels" (list $root $component) | nindent 10 }}
      matchLabelKeys:
        - pod-template-hash
    {{- end }}
  {{- end }}
  {{- with $values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
