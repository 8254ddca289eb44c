#!/bin/sh
# One-shot set-up of the object store, safe to run again: the buckets of the distributed
# deployment and the access key the services use (never the administrator's). The last loop proves
# that key reaches every bucket. Run by the compose service minio-init and the Kubernetes Job
# cinescope-minio-init, with MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, S3_ACCESS_KEY_ID and
# S3_SECRET_ACCESS_KEY set, against the service named minio.
set -eu

buckets="cinescope-raw cinescope-dvc mlflow-artifacts"

mc alias set admin http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
for bucket in $buckets; do
  mc mb --ignore-existing "admin/$bucket"
done
mc admin user add admin "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY"
mc admin policy attach admin readwrite --user "$S3_ACCESS_KEY_ID" \
  || echo "policy readwrite is already attached to $S3_ACCESS_KEY_ID"
mc alias set cinescope http://minio:9000 "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY"
for bucket in $buckets; do
  mc ls "cinescope/$bucket" > /dev/null
done
echo "buckets ready: $buckets"
