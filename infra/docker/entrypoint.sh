#!/bin/sh
# The official Airflow Helm chart runs its probes and jobs as `/entrypoint <command>`, the path of
# the apache/airflow image's entrypoint. This image needs no set-up first: run the command as given.
exec "$@"
