#!/usr/bin/env bash
# One-shot set-up of a distributed deployment, safe to run again: migrate the Airflow metadata
# database, create the `gpu` pool that training tasks run in and, where a passwords file is
# configured (docker compose), write the UI login that Airflow's simple auth manager reads.
set -euo pipefail

airflow db migrate
airflow pools set gpu "${CINESCOPE_GPU_POOL_SLOTS:-1}" "training on GPU workers"

passwords_file="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-}"
if [[ -n "${passwords_file}" && -n "${AIRFLOW_ADMIN_PASSWORD:-}" ]]; then
  python - "${passwords_file}" <<'PY'
import json
import os
import sys
from pathlib import Path

from ops.airflow_env import ADMIN_USER
from ops.atomic import atomic_open

target = Path(sys.argv[1])
target.parent.mkdir(parents=True, exist_ok=True)
with atomic_open(target) as out:
    json.dump({ADMIN_USER: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, out)
print(f"Airflow UI login written for user {ADMIN_USER!r} to {target}")
PY
fi
