{{/* ---------------------------------------------------------------------------
Names and labels. Every object carries the app.kubernetes.io/* labels from here.
--------------------------------------------------------------------------- */}}

{{- define "phs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "phs.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "phs.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's objects: phs.componentName (dict "root" $ "component" "scheduling") */}}
{{- define "phs.componentName" -}}
{{- printf "%s-%s" (include "phs.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of a component (immutable in Deployments: keep them minimal). */}}
{{- define "phs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "phs.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of every object of the release (no component). */}}
{{- define "phs.releaseLabels" -}}
app.kubernetes.io/name: {{ include "phs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: phs
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "phs.chart" . }}
{{- end -}}

{{/* Full labels of a component's objects. */}}
{{- define "phs.labels" -}}
{{ include "phs.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: phs
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "phs.chart" .root }}
{{- end -}}

{{/* Selector of every pod of the release (NetworkPolicy default deny). */}}
{{- define "phs.releaseSelector" -}}
app.kubernetes.io/name: {{ include "phs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* ---------------------------------------------------------------------------
Images: registry/repository:tag[@digest]; "latest" and empty tags are refused.
Usage: include "phs.image" (dict "root" $ "image" .Values.images.scheduling "defaultTag" $.Chart.AppVersion)
--------------------------------------------------------------------------- */}}
{{- define "phs.image" -}}
{{- $tag := toString (default .defaultTag .image.tag) -}}
{{- if or (eq $tag "") (eq $tag "latest") -}}
{{- fail (printf "image %s needs an exact version tag (got %q)" .image.repository $tag) -}}
{{- end -}}
{{- $ref := printf "%s%s:%s" .root.Values.global.imageRegistry .image.repository $tag -}}
{{- if .image.digest -}}
{{- $ref = printf "%s@%s" $ref .image.digest -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------
Hardening shared by every pod and container.
--------------------------------------------------------------------------- */}}
{{- define "phs.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "phs.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* ---------------------------------------------------------------------------
Kafka client settings (services and the topic job share them).
--------------------------------------------------------------------------- */}}
{{- define "phs.kafkaBootstrap" -}}
{{- if .Values.kafka.enabled -}}
{{- printf "%s.%s.svc.%s:9092" (include "phs.componentName" (dict "root" . "component" "kafka")) .Release.Namespace .Values.clusterDomain -}}
{{- else -}}
{{- required "kafka.external.bootstrapServers is required when kafka.enabled is false" .Values.kafka.external.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{- define "phs.kafkaEnv" -}}
- name: PHS_KAFKA_BOOTSTRAP_SERVERS
  value: {{ include "phs.kafkaBootstrap" . | quote }}
- name: PHS_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
- name: PHS_KAFKA_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | quote }}
- name: PHS_REPORT_JOBS_TOPIC
  value: {{ .Values.kafka.topics.reportJobs.name | quote }}
- name: PHS_REPORT_JOBS_PARTITIONS
  value: {{ .Values.kafka.topics.reportJobs.partitions | quote }}
- name: PHS_REPORT_DEAD_LETTER_TOPIC
  value: {{ .Values.kafka.topics.reportDeadLetter.name | quote }}
- name: PHS_REPORT_DEAD_LETTER_PARTITIONS
  value: {{ .Values.kafka.topics.reportDeadLetter.partitions | quote }}
- name: PHS_APPOINTMENT_EVENTS_TOPIC
  value: {{ .Values.kafka.topics.appointmentEvents.name | quote }}
- name: PHS_APPOINTMENT_EVENTS_PARTITIONS
  value: {{ .Values.kafka.topics.appointmentEvents.partitions | quote }}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}
- name: PHS_KAFKA_SASL_MECHANISM
  value: {{ required "kafka.sasl.mechanism is required with a SASL_* security protocol" .Values.kafka.sasl.mechanism | quote }}
- name: PHS_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.sasl.existingSecret is required with a SASL_* security protocol" .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.usernameKey }}
- name: PHS_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
- name: PHS_KAFKA_SSL_CAFILE
  value: /etc/phs/kafka-ca/{{ .Values.kafka.tls.caKey }}
{{- end }}
{{- end -}}

{{- define "phs.kafkaCaVolumeMount" -}}
{{- if .Values.kafka.tls.caSecret -}}
- name: kafka-ca
  mountPath: /etc/phs/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "phs.kafkaCaVolume" -}}
{{- if .Values.kafka.tls.caSecret -}}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
    items:
      - key: {{ .Values.kafka.tls.caKey }}
        path: {{ .Values.kafka.tls.caKey }}
{{- end }}
{{- end -}}

{{/* ---------------------------------------------------------------------------
Authentication (auth.*): where the services find the public keys that sign tokens, and
the signing keys of the two services that call scheduling as themselves (the report worker,
the notifications service), each its own. Paths inside the containers are fixed.
--------------------------------------------------------------------------- */}}
{{- define "phs.authJwksDir" -}}/etc/phs/auth/jwks{{- end -}}
{{- define "phs.authSigningKeyDir" -}}/etc/phs/auth/signing-key{{- end -}}

{{/* The inline JWKS (auth.jwks, JSON text) parsed and re-serialized; fails on bad JSON. */}}
{{- define "phs.authJwksDoc" -}}
{{- $jwks := toString .Values.auth.jwks -}}
{{- if contains "PRIVATE KEY" $jwks -}}
{{- fail "auth.jwks holds a PEM private key: it takes the public JWKS document only; the services' private keys belong in the Secrets named by auth.workerSigningKey.existingSecret and auth.notificationsSigningKey.existingSecret" -}}
{{- end -}}
{{- $doc := fromJson $jwks -}}
{{- if hasKey $doc "Error" -}}
{{- fail (printf "auth.jwks is not a JSON object (a JWKS document {\"keys\": [...]}): %s" (index $doc "Error")) -}}
{{- end -}}
{{- toJson $doc -}}
{{- end -}}

{{/* The ConfigMap content for an inline JWKS: the validated document, pretty-printed. */}}
{{- define "phs.authJwksJson" -}}
{{- include "phs.authJwksDoc" . | fromJson | toPrettyJson -}}
{{- end -}}

{{/*
Refuse auth settings the services could not start with: no key source or several, no
worker or notifications signing key (or one key for both), an inline JWKS that is not a
usable public JWKS or lacks either service's key id. Included by templates/auth.yaml (so
every render runs it).
*/}}
{{- define "phs.authCheck" -}}
{{- $a := .Values.auth -}}
{{- $sources := list -}}
{{- if $a.jwks }}{{ $sources = append $sources "auth.jwks" }}{{ end -}}
{{- if $a.jwksUrl }}{{ $sources = append $sources "auth.jwksUrl" }}{{ end -}}
{{- if $a.existingJwksConfigMap.name }}{{ $sources = append $sources "auth.existingJwksConfigMap.name" }}{{ end -}}
{{- if eq (len $sources) 0 -}}
{{- fail "auth: no token keys are configured. Set one of auth.jwks (the JWKS document with the public keys), auth.jwksUrl (the identity provider's JWKS endpoint) or auth.existingJwksConfigMap.name (a ConfigMap holding the JWKS); see docs/kubernetes.md" -}}
{{- else if gt (len $sources) 1 -}}
{{- fail (printf "auth: set exactly one source of token keys, not %s" (join " and " $sources)) -}}
{{- end -}}
{{- if not $a.workerSigningKey.existingSecret -}}
{{- fail "auth.workerSigningKey.existingSecret is required: the report worker signs its calls to scheduling with a private key the chart only ever reads from a Secret you create (file key auth.workerSigningKey.key); see docs/kubernetes.md" -}}
{{- end -}}
{{- if not $a.workerSigningKey.keyId -}}
{{- fail "auth.workerSigningKey.keyId is required: the kid of the worker's public key in the JWKS" -}}
{{- end -}}
{{- $n := $a.notificationsSigningKey -}}
{{- if not $n.existingSecret -}}
{{- fail "auth.notificationsSigningKey.existingSecret is required: the notifications service signs its calls to scheduling with a private key of its own, which the chart only ever reads from a Secret you create (file key auth.notificationsSigningKey.key); see docs/kubernetes.md" -}}
{{- end -}}
{{- if not $n.keyId -}}
{{- fail "auth.notificationsSigningKey.keyId is required: the kid of the notifications service's public key in the JWKS" -}}
{{- end -}}
{{- if eq $n.keyId $a.workerSigningKey.keyId -}}
{{- fail (printf "auth.notificationsSigningKey.keyId is the worker's (%q): each service signs with a key of its own, under its own kid" $n.keyId) -}}
{{- end -}}
{{- if and (eq $n.existingSecret $a.workerSigningKey.existingSecret) (eq $n.key $a.workerSigningKey.key) -}}
{{- fail "auth.notificationsSigningKey names the worker's key (same Secret and file key): give the notifications service a key of its own" -}}
{{- end -}}
{{- if $a.jwks -}}
{{- $doc := include "phs.authJwksDoc" . | fromJson -}}
{{- $keys := index $doc "keys" -}}
{{- if or (not (kindIs "slice" $keys)) (not $keys) -}}
{{- fail "auth.jwks must be a JWKS document: {\"keys\": [...]} with at least one key" -}}
{{- end -}}
{{- $kids := list -}}
{{- range $i, $k := $keys -}}
{{- if not (kindIs "map" $k) -}}
{{- fail (printf "auth.jwks: key %d is not a JSON object" $i) -}}
{{- end -}}
{{- range $member := list "d" "p" "q" "dp" "dq" "qi" "oth" "k" -}}
{{- if hasKey $k $member -}}
{{- fail (printf "auth.jwks: key %d has the private member %q: publish public keys only" $i $member) -}}
{{- end -}}
{{- end -}}
{{- $kid := get $k "kid" | toString -}}
{{- $alg := get $k "alg" | toString -}}
{{- $kty := get $k "kty" | toString -}}
{{- if not (get $k "kid") -}}
{{- fail (printf "auth.jwks: key %d has no kid" $i) -}}
{{- end -}}
{{- if not (or (and (eq $alg "ES256") (eq $kty "EC")) (and (eq $alg "RS256") (eq $kty "RSA"))) -}}
{{- fail (printf "auth.jwks: key %q needs alg ES256 with kty EC, or RS256 with kty RSA (got alg %q, kty %q)" $kid $alg $kty) -}}
{{- end -}}
{{- $kids = append $kids $kid -}}
{{- end -}}
{{- if not (has $a.workerSigningKey.keyId $kids) -}}
{{- fail (printf "auth.workerSigningKey.keyId %q is not a key of auth.jwks (%s): scheduling would refuse the worker's tokens; publish its public key first" $a.workerSigningKey.keyId (join ", " $kids)) -}}
{{- end -}}
{{- if not (has $n.keyId $kids) -}}
{{- fail (printf "auth.notificationsSigningKey.keyId %q is not a key of auth.jwks (%s): scheduling would refuse the notifications service's tokens; publish its public key first" $n.keyId (join ", " $kids)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the ConfigMap holding the JWKS (the chart's, or auth.existingJwksConfigMap). */}}
{{- define "phs.authJwksConfigMapName" -}}
{{- if .Values.auth.jwks -}}
{{- printf "%s-auth-jwks" (include "phs.fullname" .) -}}
{{- else -}}
{{- .Values.auth.existingJwksConfigMap.name -}}
{{- end -}}
{{- end -}}

{{/* auth.roleMap as PHS_AUTH_ROLE_MAP wants it: value:role,... (sorted by value). */}}
{{- define "phs.authRoleMap" -}}
{{- $pairs := list -}}
{{- range $value, $role := .Values.auth.roleMap -}}
{{- $pairs = append $pairs (printf "%s:%s" $value $role) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* Usage: include "phs.authEnv" (dict "root" $ "signingKey" auth.workerSigningKey|auth.notificationsSigningKey|nil) */}}
{{- define "phs.authEnv" -}}
{{- $a := .root.Values.auth -}}
- name: PHS_AUTH_ISSUER
  value: {{ $a.issuer | quote }}
- name: PHS_AUTH_AUDIENCE
  value: {{ $a.audience | quote }}
- name: PHS_AUTH_JWKS_REFRESH_SECONDS
  value: {{ $a.jwksRefreshSeconds | quote }}
- name: PHS_AUTH_LEEWAY_SECONDS
  value: {{ $a.leewaySeconds | quote }}
{{- if $a.jwksUrl }}
- name: PHS_AUTH_JWKS_URL
  value: {{ $a.jwksUrl | quote }}
{{- else }}
- name: PHS_AUTH_JWKS_FILE
  value: {{ include "phs.authJwksDir" .root }}/jwks.json
{{- end }}
- name: PHS_AUTH_SUBJECT_CLAIM
  value: {{ $a.subjectClaim | quote }}
- name: PHS_AUTH_ROLE_CLAIM
  value: {{ $a.roleClaim | quote }}
- name: PHS_AUTH_ROLE_MAP
  value: {{ include "phs.authRoleMap" .root | quote }}
- name: PHS_AUTH_CLIENT_IDS
  value: {{ $a.clientId | quote }}
- name: PHS_AUTH_REQUIRE_AT_JWT
  value: {{ $a.requireAtJwt | quote }}
{{- if $a.dedicatedWorkerKey }}
- name: PHS_AUTH_SERVICE_KEY_IDS
  value: {{ printf "%s,%s" $a.workerSigningKey.keyId $a.notificationsSigningKey.keyId | quote }}
{{- end }}
{{- with .signingKey }}
- name: PHS_AUTH_SIGNING_KEY_FILE
  value: {{ include "phs.authSigningKeyDir" $.root }}/signing-key.pem
- name: PHS_AUTH_SIGNING_KEY_ID
  value: {{ .keyId | quote }}
{{- end }}
{{- end -}}

{{/* Read-only mounts: the JWKS as a directory (no subPath, so the kubelet updates the file
in place when the ConfigMap changes) and, for a service that signs, its own signing key. */}}
{{- define "phs.authVolumeMounts" -}}
{{- if not .root.Values.auth.jwksUrl }}
- name: auth-jwks
  mountPath: {{ include "phs.authJwksDir" .root }}
  readOnly: true
{{- end }}
{{- if .signingKey }}
- name: auth-signing-key
  mountPath: {{ include "phs.authSigningKeyDir" .root }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "phs.authVolumes" -}}
{{- $a := .root.Values.auth -}}
{{- if not $a.jwksUrl }}
- name: auth-jwks
  configMap:
    name: {{ include "phs.authJwksConfigMapName" .root }}
    items:
      - key: {{ ternary "jwks.json" $a.existingJwksConfigMap.key (not (empty $a.jwks)) }}
        path: jwks.json
{{- end }}
{{- with .signingKey }}
# The service's private key: 0440 = readable by root and the pod's fsGroup (the process's
# group) only, which is what the kubelet grants a Secret file under fsGroup anyway.
- name: auth-signing-key
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 288  # 0440
    items:
      - key: {{ .key }}
        path: signing-key.pem
{{- end }}
{{- end -}}

{{/* NetworkPolicy egress to the JWKS endpoint (only with auth.jwksUrl). */}}
{{- define "phs.jwksEgress" -}}
{{- if .Values.auth.jwksUrl -}}
{{- $np := .Values.networkPolicy.jwksEgress -}}
{{- $ports := $np.ports -}}
{{- if not $ports -}}
{{- $host := (urlParse .Values.auth.jwksUrl).host -}}
{{- $port := regexFind ":[0-9]+$" $host | trimPrefix ":" | default "443" -}}
{{- $ports = list (dict "port" (atoi $port) "protocol" "TCP") -}}
{{- end -}}
- ports:
    {{- toYaml $ports | nindent 4 }}
  {{- with $np.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------
Databases.
--------------------------------------------------------------------------- */}}
{{- define "phs.databaseSecretName" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else if .Values.postgresql.enabled -}}
{{- printf "%s-database" (include "phs.fullname" .) -}}
{{- else -}}
{{- fail "database.existingSecret is required when postgresql.enabled is false" -}}
{{- end -}}
{{- end -}}

{{/* The web app's OpenID provider: web.oidc.authority, else auth.issuer when it is an
http(s) URL (a development issuer such as "phs-dev" is not one: the app then has none). */}}
{{- define "phs.webAuthority" -}}
{{- if .Values.web.oidc.authority -}}
{{- .Values.web.oidc.authority -}}
{{- else if regexMatch "^https?://[^/]" (toString .Values.auth.issuer) -}}
{{- .Values.auth.issuer -}}
{{- end -}}
{{- end -}}

{{/* Where calendar apps reach the gateway, for the feed addresses scheduling hands out:
scheduling.calendarFeeds.baseUrl, else notifications.webUrl (the gateway serves the web app
and the API on one origin); without a trailing slash, as the service appends /v1/feeds/... */}}
{{- define "phs.calendarFeedBaseUrl" -}}
{{- default .Values.notifications.webUrl .Values.scheduling.calendarFeeds.baseUrl | trimSuffix "/" -}}
{{- end -}}

{{/* "true" when notifications.smtp.host names the chart's mail sink Service (by its short
or a qualified name): the chart then checks the two agree and narrows the egress to it. */}}
{{- define "phs.smtpIsMailSink" -}}
{{- $name := include "phs.componentName" (dict "root" . "component" "mail-sink") -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list $name (printf "%s.%s" $name $ns) (printf "%s.%s.svc" $name $ns) (printf "%s.%s.svc.%s" $name $ns .Values.clusterDomain) -}}
{{- if has (.Values.notifications.smtp.host | trimSuffix ".") $names -}}true{{- end -}}
{{- end -}}

{{- define "phs.postgresqlAuthSecretName" -}}
{{- default (printf "%s-postgresql-auth" (include "phs.fullname" .)) .Values.postgresql.auth.existingSecret -}}
{{- end -}}

{{- define "phs.postgresqlHost" -}}
{{- printf "%s.%s.svc.%s" (include "phs.componentName" (dict "root" . "component" "postgresql")) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------
The Envoy config: services/gateway/envoy.yaml.tmpl (files/envoy.yaml.tmpl is a symlink
to it, the same file `make up` renders) with in-cluster addresses. Every placeholder
must be replaced, as in tools/phs_devstack/gateway.py (string.Template.substitute).
--------------------------------------------------------------------------- */}}
{{- define "phs.envoyConfig" -}}
{{- $ns := .Release.Namespace -}}
{{- $domain := .Values.clusterDomain -}}
{{- $values := dict
  "LISTEN_HOST" "0.0.0.0"
  "LISTEN_PORT" (toString .Values.gateway.listenPort)
  "ADMIN_HOST" "0.0.0.0"
  "ADMIN_PORT" (toString .Values.gateway.adminPort)
  "SCHEDULING_ENDPOINTS" (printf "[{endpoint: {address: {socket_address: {address: %s-grpc.%s.svc.%s, port_value: %v}}}}]" (include "phs.componentName" (dict "root" . "component" "scheduling")) $ns $domain .Values.scheduling.grpcPort)
  "REPORTS_HOST" (printf "%s-grpc.%s.svc.%s" (include "phs.componentName" (dict "root" . "component" "reports-api")) $ns $domain)
  "REPORTS_PORT" (toString .Values.reportsApi.grpcPort)
  "NOTIFICATIONS_HOST" (printf "%s-grpc.%s.svc.%s" (include "phs.componentName" (dict "root" . "component" "notifications")) $ns $domain)
  "NOTIFICATIONS_PORT" (toString .Values.notifications.grpcPort)
  "WEB_HOST" (printf "%s.%s.svc.%s" (include "phs.componentName" (dict "root" . "component" "web")) $ns $domain)
  "WEB_PORT" (toString .Values.web.port)
  "DESCRIPTOR_PATH" "/etc/envoy/descriptor/phs.pb"
  "GATEWAY_LUA_PATH" "/etc/envoy/descriptor/gateway.lua"
-}}
{{- $config := .Files.Get "files/envoy.yaml.tmpl" -}}
{{- if not $config -}}
{{- fail "files/envoy.yaml.tmpl (symlink to services/gateway/envoy.yaml.tmpl) is missing" -}}
{{- end -}}
{{- range $key, $value := $values -}}
{{- $config = replace (printf "${%s}" $key) $value $config -}}
{{- end -}}
{{- if contains "${" $config -}}
{{- fail "files/envoy.yaml.tmpl has a placeholder the chart does not fill" -}}
{{- end -}}
{{- $config -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------
One Python gRPC process (scheduling, reports API, reports worker): Deployment.
Usage: include "phs.grpcDeployment" (dict "root" $ "component" "scheduling"
         "values" .Values.scheduling "image" .Values.images.scheduling
         "module" "phs_scheduling"
         "databaseKey" .Values.database.schedulingUrlKey "kafka" true "env" (list ...)
         "signingKey" nil)
signingKey: a service's own signing key (auth.workerSigningKey for the report worker,
auth.notificationsSigningKey for notifications) to mount and name in the env; nil: none.
--------------------------------------------------------------------------- */}}
{{- define "phs.grpcDeployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $ctx := dict "root" $root "component" .component -}}
{{- $shutdown := $root.Values.common.shutdown -}}
{{- if le (int $v.terminationGracePeriodSeconds) (add $shutdown.drainSeconds $shutdown.graceSeconds 5 | int) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds must exceed common.shutdown.drainSeconds + graceSeconds + 5" .component) -}}
{{- end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "phs.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "phs.labels" $ctx | nindent 4 }}
  annotations:
    # The services read PHS_DATABASE_URL (and the Kafka SASL credentials) from the
    # environment, twelve-factor style; the values come from Secrets, never from the chart.
    checkov.io/skip1: CKV_K8S_35=The services read their credentials from environment variables filled from Secrets (secretKeyRef); there is no file-based configuration to mount them as.
    # Tags are exact versions and the chart refuses `latest`; digests are per-environment
    # values (images.*.digest) because locally built images (kind, Tilt) have none.
    checkov.io/skip2: CKV_K8S_43=Images are pinned by exact version tag; images.*.digest adds a digest where the registry is known (locally built kind/Tilt images have none).
    checkov.io/skip3: CKV_K8S_15=Version tags are immutable, so IfNotPresent is safe and keeps kind-loaded images usable; set images.*.pullPolicy to Always if you prefer.
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "phs.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "phs.labels" $ctx | nindent 8 }}
      {{- /* An inline JWKS rolls the pods when it changes (checksum/auth-jwks). */}}
      {{- $annotations := dict }}
      {{- if $root.Values.auth.jwks }}
      {{- $_ := set $annotations "checksum/auth-jwks" (include "phs.authJwksJson" $root | sha256sum) }}
      {{- end }}
      {{- $annotations = merge $annotations (default (dict) $root.Values.common.podAnnotations) }}
      {{- with $annotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "phs.podSecurityContext" (dict "uid" 10001) | nindent 8 }}
      {{- with $root.Values.global.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "phs.image" (dict "root" $root "image" .image "defaultTag" $root.Chart.AppVersion) }}
          imagePullPolicy: {{ .image.pullPolicy }}
          command: ["python"]
          args: ["-m", {{ .module | quote }}]
          ports:
            - name: grpc
              containerPort: {{ $v.grpcPort }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $v.metricsPort }}
              protocol: TCP
          env:
            - name: PHS_BIND_HOST
              value: "0.0.0.0"
            - name: PHS_GRPC_PORT
              value: {{ $v.grpcPort | quote }}
            - name: PHS_METRICS_PORT
              value: {{ $v.metricsPort | quote }}
            - name: PHS_LOG_LEVEL
              value: {{ $root.Values.common.logLevel | quote }}
            - name: PHS_HEALTH_INTERVAL_SECONDS
              value: {{ $root.Values.common.healthIntervalSeconds | quote }}
            - name: PHS_SHUTDOWN_DRAIN_SECONDS
              value: {{ $shutdown.drainSeconds | quote }}
            - name: PHS_SHUTDOWN_GRACE_SECONDS
              value: {{ $shutdown.graceSeconds | quote }}
            {{- with $v.grpcMaxWorkers }}
            - name: PHS_GRPC_MAX_WORKERS
              value: {{ . | quote }}
            {{- end }}
            {{- with $v.grpcMaxStreams }}
            - name: PHS_GRPC_MAX_STREAMS
              value: {{ . | quote }}
            {{- end }}
            - name: PHS_DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "phs.databaseSecretName" $root }}
                  key: {{ .databaseKey }}
            {{- if .kafka }}
            {{- include "phs.kafkaEnv" $root | nindent 12 }}
            {{- end }}
            {{- include "phs.authEnv" (dict "root" $root "signingKey" .signingKey) | nindent 12 }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- if $root.Values.devLiveUpdate.enabled }}
            - name: PYTHONPATH
              value: /opt/phs/live
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- if $root.Values.signingKeys.existingSecret }}
          envFrom:
            - secretRef:
                name: {{ $root.Values.signingKeys.existingSecret }}
          {{- end }}
          # Native gRPC probes against grpc.health.v1: "liveness" stays SERVING while the
          # process is up; "readiness" turns NOT_SERVING while a dependency the process
          # cannot answer without is down (pod leaves the endpoints, is not restarted). The
          # service name itself reports every dependency, Kafka included, for monitoring.
          startupProbe:
            grpc:
              port: {{ $v.grpcPort }}
              service: liveness
            periodSeconds: 2
            failureThreshold: 60
          livenessProbe:
            grpc:
              port: {{ $v.grpcPort }}
              service: liveness
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          readinessProbe:
            grpc:
              port: {{ $v.grpcPort }}
              service: readiness
            periodSeconds: 5
            timeoutSeconds: 2
            failureThreshold: 2
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- include "phs.containerSecurityContext" (dict "uid" 10001) | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if and .kafka $root.Values.kafka.tls.caSecret }}
            {{- include "phs.kafkaCaVolumeMount" $root | nindent 12 }}
            {{- end }}
            {{- with include "phs.authVolumeMounts" (dict "root" $root "signingKey" .signingKey) | trim }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- if $root.Values.devLiveUpdate.enabled }}
            - name: live
              mountPath: /opt/phs/live
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- if and .kafka $root.Values.kafka.tls.caSecret }}
        {{- include "phs.kafkaCaVolume" $root | nindent 8 }}
        {{- end }}
        {{- with include "phs.authVolumes" (dict "root" $root "signingKey" .signingKey) | trim }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- if $root.Values.devLiveUpdate.enabled }}
        # Tilt live_update syncs Python code here (see Tiltfile); PYTHONPATH puts it first.
        - name: live
          emptyDir:
            sizeLimit: 128Mi
        {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.common.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.common.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.common.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* Service for a component: ports is a list of dicts (name, port). */}}
{{- define "phs.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "phs.labels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  {{- if .headless }}
  clusterIP: None
  {{- else }}
  type: ClusterIP
  {{- end }}
  selector:
    {{- include "phs.selectorLabels" (dict "root" .root "component" .component) | nindent 4 }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
      {{- if hasPrefix "grpc" .name }}
      appProtocol: kubernetes.io/h2c
      {{- end }}
    {{- end }}
{{- end -}}

{{/* PodDisruptionBudget and optional HPA for a component. */}}
{{- define "phs.pdbAndHpa" -}}
{{- $ctx := dict "root" .root "component" .component -}}
{{- if .values.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "phs.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "phs.labels" $ctx | nindent 4 }}
spec:
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "phs.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- if .values.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "phs.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "phs.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "phs.componentName" $ctx }}
  minReplicas: {{ .values.autoscaling.minReplicas }}
  maxReplicas: {{ .values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end -}}

{{/* NetworkPolicy egress rules to the databases and the broker (in-chart or external). */}}
{{- define "phs.postgresqlEgress" -}}
{{- if .Values.postgresql.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "phs.selectorLabels" (dict "root" . "component" "postgresql") | nindent 10 }}
  ports:
    - {port: 5432, protocol: TCP}
{{- else -}}
- ports:
    {{- toYaml .Values.networkPolicy.externalPostgresql.ports | nindent 4 }}
  {{- with .Values.networkPolicy.externalPostgresql.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}

{{- define "phs.kafkaEgress" -}}
{{- if .Values.kafka.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "phs.selectorLabels" (dict "root" . "component" "kafka") | nindent 10 }}
  ports:
    - {port: 9092, protocol: TCP}
{{- else -}}
- ports:
    {{- toYaml .Values.networkPolicy.externalKafka.ports | nindent 4 }}
  {{- with .Values.networkPolicy.externalKafka.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}
