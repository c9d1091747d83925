{{- define "meshcluster.labels" -}}
app.kubernetes.io/name: meshcluster
{{- end }}
{{- define "meshcluster.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
