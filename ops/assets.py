"""The Airflow Assets that connect cinescope's DAGs (data-aware scheduling).

Imported by DAG files only; ``airflow.sdk`` is the one dependency.
"""

from airflow.sdk import Asset

CATALOG = Asset(name="catalog", uri="cinescope://datasets/catalog")
SCENE_LABELS = Asset(name="labels/scene", uri="cinescope://datasets/labels/scene")
SCENE_CHAMPION = Asset(name="models/scene@champion", uri="cinescope://models/scene/champion")
GENRE_LABELS = Asset(name="labels/genre", uri="cinescope://datasets/labels/genre")
GENRE_CHAMPION = Asset(name="models/genre@champion", uri="cinescope://models/genre/champion")
MOOD_LABELS = Asset(name="labels/mood", uri="cinescope://datasets/labels/mood")
MOOD_CHAMPION = Asset(name="models/mood@champion", uri="cinescope://models/mood/champion")
SEARCH_INDEX = Asset(name="index/search", uri="cinescope://indexes/search")
