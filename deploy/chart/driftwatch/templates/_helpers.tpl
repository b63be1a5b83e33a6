{{/* The chart name, or nameOverride. */}}
{{- define "driftwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the objects: fullnameOverride, else the release name,
followed by -<name> unless the release name contains it (a release named
driftwatch gives the objects of deploy/: driftwatch).
*/}}
{{- define "driftwatch.fullname" -}}
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

{{/* The component: check (cronjob) or watch (daemon), as in deploy/overlays. */}}
{{- define "driftwatch.component" -}}
{{- if eq .Values.mode "cronjob" }}check{{ else }}watch{{ end }}
{{- end }}

{{/* Labels that select the Pods. */}}
{{- define "driftwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "driftwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ include "driftwatch.component" . }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "driftwatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "driftwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: driftwatch
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The ServiceAccount the Pods run as. */}}
{{- define "driftwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "driftwatch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: the name of an existing ServiceAccount is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference. */}}
{{- define "driftwatch.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Leader election: a daemon with more than one replica. */}}
{{- define "driftwatch.leaderElect" -}}
{{- if and (eq .Values.mode "daemon") (gt (int .Values.daemon.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/*
The Pod template's spec, shared by the CronJob and the Deployment: the
settings of deploy/overlays/{cronjob,daemon,helm}.
*/}}
{{- define "driftwatch.podSpec" -}}
serviceAccountName: {{ include "driftwatch.serviceAccountName" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: driftwatch
    image: {{ include "driftwatch.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args:
    {{- if eq .Values.mode "cronjob" }}
      - check
      - --config
      - /etc/driftwatch/driftwatch.yaml
      - -o
      - json
    {{- else }}
      - watch
      - --listen
      - :8080
      - --config
      - /etc/driftwatch/driftwatch.yaml
      {{- if include "driftwatch.leaderElect" . }}
      - --leader-elect
      # The Pod's own namespace, where the Role for the Lease is.
      - --leader-elect-namespace
      - $(POD_NAMESPACE)
      {{- end }}
      - --log-format
      - {{ .Values.daemon.logFormat }}
      {{- if .Values.daemon.auth.existingSecret }}
      - --auth-token-file
      - /etc/driftwatch-auth/token
      {{- end }}
      {{- range .Values.daemon.webhooks }}
      - --webhook
      - {{ . | quote }}
      {{- end }}
      {{- with .Values.daemon.notifyOn }}
      - --notify-on
      - {{ . }}
      {{- end }}
    {{- end }}
    {{- range .Values.extraArgs }}
      - {{ . | quote }}
    {{- end }}
    {{- if eq .Values.mode "daemon" }}
    ports:
      - name: http
        containerPort: 8080
        protocol: TCP
    {{- end }}
    envFrom:
      # DRIFTWATCH_REPO, DRIFTWATCH_REF, DRIFTWATCH_PATH, ... (source.*)
      - configMapRef:
          name: {{ include "driftwatch.fullname" . }}-config
    env:
      {{- if eq .Values.mode "daemon" }}
      - name: POD_NAMESPACE
        valueFrom:
          fieldRef:
            fieldPath: metadata.namespace
      {{- end }}
      # Git and OpenAPI caches go to an emptyDir (the root file system is
      # read-only).
      - name: XDG_CACHE_HOME
        value: /cache
      {{- with .Values.credentials.git.secretName }}
      - name: DRIFTWATCH_GIT_USERNAME
        valueFrom:
          secretKeyRef: {name: {{ . }}, key: username, optional: true}
      - name: DRIFTWATCH_GIT_PASSWORD
        valueFrom:
          secretKeyRef: {name: {{ . }}, key: password, optional: true}
      - name: DRIFTWATCH_GIT_TOKEN
        valueFrom:
          secretKeyRef: {name: {{ . }}, key: token, optional: true}
      {{- end }}
      {{- with .Values.credentials.hashKey.secretName }}
      - name: DRIFTWATCH_HASH_KEY
        valueFrom:
          secretKeyRef: {name: {{ . }}, key: {{ $.Values.credentials.hashKey.key }}, optional: true}
      {{- end }}
      {{- with .Values.credentials.registry.secretName }}
      - name: DRIFTWATCH_REGISTRY_USERNAME
        valueFrom:
          secretKeyRef: {name: {{ . }}, key: username, optional: true}
      - name: DRIFTWATCH_REGISTRY_PASSWORD
        valueFrom:
          secretKeyRef: {name: {{ . }}, key: password, optional: true}
      {{- end }}
      {{- if .Values.credentials.sopsAge.secretName }}
      - name: SOPS_AGE_KEY_FILE
        value: /etc/driftwatch-sops/keys.txt
      {{- end }}
    {{- if eq .Values.mode "daemon" }}
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
      initialDelaySeconds: 5
      periodSeconds: 20
      timeoutSeconds: 5
      failureThreshold: 3
    # 503 until the first full comparison (a Git clone, informers synced).
    readinessProbe:
      httpGet:
        path: /readyz
        port: http
      initialDelaySeconds: 5
      periodSeconds: 10
      timeoutSeconds: 5
      failureThreshold: 3
    {{- end }}
    {{- with .Values.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: config
        mountPath: /etc/driftwatch
        readOnly: true
      - name: cache
        mountPath: /cache
      - name: tmp
        mountPath: /tmp
      {{- if .Values.source.sourceConfig }}
      - name: source
        mountPath: /etc/driftwatch-source
        readOnly: true
      {{- end }}
      {{- if .Values.credentials.sopsAge.secretName }}
      - name: sops-age
        mountPath: /etc/driftwatch-sops
        readOnly: true
      {{- end }}
      {{- if and (eq .Values.mode "daemon") .Values.daemon.auth.existingSecret }}
      - name: auth-token
        mountPath: /etc/driftwatch-auth
        readOnly: true
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "driftwatch.fullname" . }}-rules
  - name: cache
    emptyDir:
      sizeLimit: {{ .Values.cacheSizeLimit }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpSizeLimit }}
  {{- if .Values.source.sourceConfig }}
  - name: source
    configMap:
      name: {{ include "driftwatch.fullname" . }}-source
  {{- end }}
  {{- with .Values.credentials.sopsAge.secretName }}
  - name: sops-age
    secret:
      secretName: {{ . }}
      items:
        - key: {{ $.Values.credentials.sopsAge.key }}
          path: keys.txt
  {{- end }}
  {{- if and (eq .Values.mode "daemon") .Values.daemon.auth.existingSecret }}
  - name: auth-token
    secret:
      secretName: {{ .Values.daemon.auth.existingSecret }}
      items:
        - key: {{ .Values.daemon.auth.key }}
          path: token
  {{- end }}
{{- end }}

{{/* Pod template annotations: a checksum of the settings rolls the Pods when they change. */}}
{{- define "driftwatch.podAnnotations" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if and (eq .Values.mode "daemon") .Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: "8080"
prometheus.io/path: /metrics
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}
