{{/*
Sluice's config file: .Values.config with the keys the chart manages laid over it.
Secrets never appear here: the tokens and the SASL password reach the server as
SLUICE__SECTION__KEY environment variables from Secrets (see _pod.tpl).
*/}}

{{- define "sluice.paths" -}}
config: /etc/sluice/config/config.yaml
tls: /etc/sluice/tls
clientCA: /etc/sluice/client-ca
kafkaCA: /etc/sluice/kafka-ca
kafkaClient: /etc/sluice/kafka-client
spool: /var/lib/sluice/spool
tmp: /tmp
queryTLS: /etc/sluice/query-tls
queryClientCA: /etc/sluice/query-client-ca
{{- end }}

{{/*
kafka.client with the TLS and SASL properties the chart manages laid over it, as JSON (the
gateway's producer and the roll-up's consumer share them). JSON, not YAML: fromJson gives
the numbers back as they were, so the config file renders them unchanged.
*/}}
{{- define "sluice.kafkaClient" -}}
{{- $paths := include "sluice.paths" . | fromYaml -}}
{{- $client := deepCopy .Values.kafka.client }}
{{- $protocol := include "sluice.kafkaSecurityProtocol" . }}
{{- if ne $protocol "PLAINTEXT" }}
{{- $_ := set $client "security.protocol" $protocol }}
{{- end }}
{{- if .Values.kafka.tls.enabled }}
{{- if .Values.kafka.tls.caSecret }}
{{- $_ := set $client "ssl.ca.location" (printf "%s/ca.crt" $paths.kafkaCA) }}
{{- end }}
{{- if .Values.kafka.tls.clientCertSecret }}
{{- $_ := set $client "ssl.certificate.location" (printf "%s/tls.crt" $paths.kafkaClient) }}
{{- $_ := set $client "ssl.key.location" (printf "%s/tls.key" $paths.kafkaClient) }}
{{- end }}
{{- end }}
{{- if .Values.kafka.sasl.enabled }}
{{- $_ := set $client "sasl.mechanism" .Values.kafka.sasl.mechanism }}
{{- $_ := set $client "sasl.username" .Values.kafka.sasl.username }}
{{- end }}
{{- toJson $client }}
{{- end }}

{{- define "sluice.config" -}}
{{- $paths := include "sluice.paths" . | fromYaml -}}
{{- $config := deepCopy .Values.config }}
{{- $tokenAuth := eq .Values.auth.mode "token" }}
{{- $host := ternary "0.0.0.0" "127.0.0.1" $tokenAuth }}
{{- $_ := set $config "server" (mergeOverwrite (dig "server" dict $config) (dict "listen" (printf "%s:%d" $host (int .Values.ports.grpc)))) }}
{{- $_ := set $config "ops" (mergeOverwrite (dig "ops" dict $config) (dict "listen" (printf "0.0.0.0:%d" (int .Values.ports.metrics)))) }}
{{- $auth := dict "mode" .Values.auth.mode }}
{{- if not $tokenAuth }}
{{- $_ := set $auth "default_tenant" .Values.auth.defaultTenant }}
{{- end }}
{{- $_ := set $config "auth" $auth }}
{{- if .Values.tls.enabled }}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" $paths.tls) "key_file" (printf "%s/tls.key" $paths.tls) }}
{{- if .Values.tls.clientCASecret }}
{{- $_ := set $tls "client_ca_file" (printf "%s/ca.crt" $paths.clientCA) }}
{{- end }}
{{- $_ := set $config "server" (mergeOverwrite $config.server (dict "tls" $tls)) }}
{{- end }}
{{- if .Values.httpIngest.enabled }}
{{- $http := dict "enabled" true "listen" (printf "%s:%d" $host (int .Values.ports.http)) }}
{{- if .Values.tls.enabled }}
{{- $_ := set $http "tls" $config.server.tls }}
{{- end }}
{{- $_ := set $config "http" (mergeOverwrite (dig "http" dict $config) $http) }}
{{- end }}
{{- $client := include "sluice.kafkaClient" . | fromJson }}
{{- $kafka := dict "bootstrap_servers" .Values.kafka.bootstrapServers "topic" .Values.kafka.topic "dlq_topic" .Values.kafka.dlqTopic }}
{{- if $client }}
{{- $_ := set $kafka "client" $client }}
{{- end }}
{{- $_ := set $config "kafka" (mergeOverwrite (dig "kafka" dict $config) $kafka) }}
{{- $spool := dig "spool" dict $config }}
{{- $_ := set $spool "enabled" .Values.spool.enabled }}
{{- $_ := set $spool "dir" $paths.spool }}
{{- if not (hasKey $spool "max_bytes") }}
{{- $_ := set $spool "max_bytes" (include "sluice.spoolMaxBytes" . | int64) }}
{{- end }}
{{- $_ := set $config "spool" $spool }}
{{- toYaml $config }}
{{- end }}

{{/*
The config file of `sluice rollup`: .Values.rollup.config with the keys the chart manages
laid over it: the ops listener on the pod's address, the store's backend (PostgreSQL, the
one replicas can share), and Kafka's bootstrap servers, topic and client security. The
DSN is never here: it reaches the pod as SLUICE__ROLLUP__STORE__POSTGRES_DSN from a Secret.
*/}}
{{- define "sluice.rollupConfig" -}}
{{- $config := deepCopy .Values.rollup.config }}
{{- $rollup := dig "rollup" dict $config }}
{{- $_ := set $rollup "ops_listen" (printf "0.0.0.0:%d" (int .Values.rollup.ports.metrics)) }}
{{- $_ := set $rollup "store" (mergeOverwrite (dig "store" dict $rollup) (dict "backend" "postgres")) }}
{{- $_ := set $config "rollup" $rollup }}
{{- $kafka := dict "bootstrap_servers" .Values.kafka.bootstrapServers "topic" .Values.kafka.topic }}
{{- $client := include "sluice.kafkaClient" . | fromJson }}
{{- if $client }}
{{- $_ := set $kafka "client" $client }}
{{- end }}
{{- $_ := set $config "kafka" (mergeOverwrite (dig "kafka" dict $config) $kafka) }}
{{- toYaml $config }}
{{- end }}

{{/*
The config file of `sluice query`: .Values.query.config with the API and ops listeners, the
listener's TLS, auth (the gateway's mode; the tokens come from the same Secret, as
SLUICE__AUTH__TOKENS) and the store's backend laid over it. Under auth.mode none the API
may listen on loopback only, as the gateway does.
*/}}
{{- define "sluice.queryConfig" -}}
{{- $paths := include "sluice.paths" . | fromYaml -}}
{{- $config := deepCopy .Values.query.config }}
{{- $tokenAuth := eq .Values.auth.mode "token" }}
{{- $host := ternary "0.0.0.0" "127.0.0.1" $tokenAuth }}
{{- $query := dig "query" dict $config }}
{{- $_ := set $query "listen" (printf "%s:%d" $host (int .Values.query.ports.api)) }}
{{- $_ := set $query "ops_listen" (printf "0.0.0.0:%d" (int .Values.query.ports.metrics)) }}
{{- if .Values.query.tls.enabled }}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" $paths.queryTLS) "key_file" (printf "%s/tls.key" $paths.queryTLS) }}
{{- if .Values.query.tls.clientCASecret }}
{{- $_ := set $tls "client_ca_file" (printf "%s/ca.crt" $paths.queryClientCA) }}
{{- end }}
{{- $_ := set $query "tls" $tls }}
{{- end }}
{{- $_ := set $config "query" $query }}
{{- $auth := dict "mode" .Values.auth.mode }}
{{- if not $tokenAuth }}
{{- $_ := set $auth "default_tenant" .Values.auth.defaultTenant }}
{{- end }}
{{- $_ := set $config "auth" $auth }}
{{- $rollup := dig "rollup" dict $config }}
{{- $_ := set $rollup "store" (mergeOverwrite (dig "store" dict $rollup) (dict "backend" "postgres")) }}
{{- $_ := set $config "rollup" $rollup }}
{{- toYaml $config }}
{{- end }}
