-- Run once by the postgres image, when its data volume is new: one database per consumer, all
-- owned by POSTGRES_USER. (POSTGRES_DB stays "postgres" in compose.yaml, so none of these
-- exists yet.)
CREATE DATABASE airflow;   -- Airflow metadata and the Celery result backend
CREATE DATABASE mlflow;    -- MLflow tracking and model registry
CREATE DATABASE cinescope; -- the query API's text index
