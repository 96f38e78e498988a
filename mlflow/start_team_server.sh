#!/usr/bin/env bash
# Shared MLflow tracking server for a team: PostgreSQL backend store + artifact root.
# See mlflow/README.md. Binds 127.0.0.1 unless MLFLOW_HOST says otherwise.
#
#   MLFLOW_BACKEND_STORE_URI  postgresql+psycopg2://user:password@dbhost:5432/mlflow  (required)
#   MLFLOW_ARTIFACTS_DESTINATION  where artifacts go: /srv/mlflow/artifacts, s3://bucket/path
#                               (default: $LEPTON_HOME/mlflow/team-artifacts)
#   MLFLOW_HOST (127.0.0.1)  MLFLOW_PORT (5000)  MLFLOW_WORKERS (2)
#
# Clients then use: LeptonClassifier(tracking_uri="http://HOST:PORT", ...) or
# MLFLOW_TRACKING_URI=http://HOST:PORT.
set -euo pipefail

: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI=postgresql+psycopg2://user:password@host:5432/mlflow}"
LEPTON_HOME="${LEPTON_HOME:-$HOME/.lepton}"
ARTIFACTS="${MLFLOW_ARTIFACTS_DESTINATION:-$LEPTON_HOME/mlflow/team-artifacts}"
HOST="${MLFLOW_HOST:-127.0.0.1}"
PORT="${MLFLOW_PORT:-5000}"
WORKERS="${MLFLOW_WORKERS:-2}"

case "$ARTIFACTS" in
  *://*) ;;                      # object store URI: the server needs its client library
  *) mkdir -p "$ARTIFACTS" ;;
esac

# No telemetry, no background job runner (faster start, nothing phones home).
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false

# --artifacts-destination + proxied artifacts: clients upload and download through the
# server, so they need no credentials for the artifact store.
exec "${PYTHON:-python}" -m mlflow server \
  --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
  --artifacts-destination "$ARTIFACTS" \
  --serve-artifacts \
  --host "$HOST" --port "$PORT" --workers "$WORKERS" "$@"
