"""``dvc.yaml`` tells the truth: stage names, dependencies, data root and run-cache replay.

A stage runs ``cinescope <model> <command>``, which calls step functions of
``ops/<model>/pipeline.py``. The code a stage runs is derived from the imports of those
functions (transitively through ``ops``/``models``), and the data it reads from the
folders they name (``scene_dir(settings) / "..."``, the labelled folder); both must be in
the stage's ``deps``. The DVC tests run real ``dvc`` on a temporary copy of the pipeline
files, with a stand-in ``cinescope`` that writes the stage outputs instantly instead of
training.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.scene.data_root import write_data_root
from ops.settings import REPO_ROOT, Settings

CODE_PACKAGES = ("ops", "models")
SCENE_STAGES = ["labels", "features", "train", "evaluate"]
STEPS = {
    ("genre", "train"): ("data_step", "train_step"),
    ("mood", "train"): ("data_step", "train_step"),
}
"""The steps a command runs, where they are not just ``<command>_step``."""
LABELLED = {
    "scene": ("labels_dir", "${scene_labels}"),
    "genre": ("data_dir", "${genre_data}"),
    "mood": ("data_dir", "${mood_data}"),
}
"""Per model, the function naming its labelled folder and that folder in dvc.yaml."""


def _stages(dvc_yaml: Path = REPO_ROOT / "dvc.yaml") -> dict[str, Any]:
    return dict(yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"])


def _command(stage: dict[str, Any]) -> tuple[str, str]:
    """The ``cinescope <model> <command>`` a stage runs (after its environment assignments)."""
    words = stage["cmd"].split()
    start = words.index("cinescope")
    return str(words[start + 1]), str(words[start + 2])


def _pipeline(model: str) -> Path:
    return REPO_ROOT / "ops" / model / "pipeline.py"


def _module_file(name: str) -> Path | None:
    path = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(node: ast.AST) -> set[str]:
    """``ops``/``models`` modules imported anywhere under ``node`` (function bodies included)."""
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Import):
            names |= {alias.name for alias in child.names}
        elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
            names.add(child.module)
            names |= {f"{child.module}.{alias.name}" for alias in child.names}
    return {n for n in names if n.split(".")[0] in CODE_PACKAGES and _module_file(n)}


def _is_code(path: Path) -> bool:
    """A package ``__init__`` holding only its docstring runs nothing a stage depends on."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return path.name != "__init__.py" or any(
        not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)) for s in body
    )


def _steps(model: str, command: str) -> list[ast.FunctionDef]:
    """The step functions ``cinescope <model> <command>`` runs."""
    names = STEPS.get((model, command), (f"{command}_step",))
    tree = ast.parse(_pipeline(model).read_text(encoding="utf-8"))
    found = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names}
    missing = sorted(set(names) - set(found))
    assert not missing, f"ops/{model}/pipeline.py has no {missing} for `{model} {command}`"
    return [found[name] for name in names]


def code_read_by(model: str, command: str) -> set[str]:
    """Repository paths of the code ``cinescope <model> <command>`` runs: its steps' imports."""
    pipeline = _pipeline(model)
    tree = ast.parse(pipeline.read_text(encoding="utf-8"))
    module_level = {
        n for s in tree.body if isinstance(s, ast.Import | ast.ImportFrom) for n in _imports(s)
    }
    steps = set().union(*(_imports(step) for step in _steps(model, command)))
    pending, seen = list(module_level | steps), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run too
        source = _module_file(name)
        assert source is not None
        pending += _imports(ast.parse(source.read_text(encoding="utf-8")))
    files = {pipeline} | {f for f in map(_module_file, seen) if f is not None}
    return {str(f.relative_to(REPO_ROOT)) for f in files if _is_code(f)}


def data_read_by(model: str, command: str) -> set[str]:
    """The data-root paths (as written in dvc.yaml) the steps name: the model's folders
    under the data root (``<model>_dir(settings) / "..."``) and its labelled folder."""
    labelled, folder = LABELLED[model]
    paths: set[str] = set()
    for node in (n for step in _steps(model, command) for n in ast.walk(step)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == labelled
        ):
            paths.add(folder)
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.left, ast.Call)
            and isinstance(node.left.func, ast.Name)
            and node.left.func.id == f"{model}_dir"
            and isinstance(node.right, ast.Constant)
        ):
            paths.add(f"${{home}}/{model}/{node.right.value}")
    return paths


def _declared(stage: dict[str, Any]) -> list[str]:
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in stage.get("outs", [])]
    return [*stage.get("deps", []), *outs]


def undeclared(stages: dict[str, Any]) -> dict[str, list[str]]:
    """Per stage, the files it reads that neither a dependency nor an output covers."""
    missing = {}
    for name, stage in stages.items():
        declared = _declared(stage)
        model, command = _command(stage)
        needed = code_read_by(model, command) | data_read_by(model, command)
        left = sorted(
            path
            for path in needed
            if not any(path == d or path.startswith(d.rstrip("/") + "/") for d in declared)
        )
        if left:
            missing[name] = left
    return missing


def _stage_name(model: str, command: str) -> str:
    """The scene stages are named after their command, the other models' ``<model>_<command>``."""
    return command if model == "scene" else f"{model}_{command}"


def test_each_stage_is_named_after_the_command_it_runs() -> None:
    stages = _stages()
    assert list(stages) == [*SCENE_STAGES, "genre_train", "mood_train"]
    assert {name: _stage_name(*_command(stage)) for name, stage in stages.items()} == {
        n: n for n in stages
    }


def test_every_stage_declares_the_code_and_data_it_reads() -> None:
    assert undeclared(_stages()) == {}


def test_a_dependency_removed_from_dvc_yaml_is_caught() -> None:
    """The check fails on the gaps the pipeline had: train without evaluate.py, evaluate
    without the prepared segments."""
    reduced = copy.deepcopy(_stages())
    reduced["train"]["deps"].remove("ops/scene/evaluate.py")
    reduced["evaluate"]["deps"].remove("${home}/scene/prepared")
    reduced["labels"]["deps"].remove("models")
    missing = undeclared(reduced)
    assert "ops/scene/evaluate.py" in missing["train"]
    assert "${home}/scene/prepared" in missing["evaluate"]
    assert "models/contracts.py" in missing["labels"]
    assert "features" not in missing


def test_the_genre_and_mood_stages_declare_their_steps_code_and_folders() -> None:
    """Both steps of `<model> train` count (data_step versions the labelled folder)."""
    reduced = copy.deepcopy(_stages())
    reduced["genre_train"]["deps"].remove("${genre_data}")
    reduced["mood_train"]["deps"].remove("ops/datasets/folders.py")
    missing = undeclared(reduced)
    assert missing == {"genre_train": ["${genre_data}"], "mood_train": ["ops/datasets/folders.py"]}


# ---- real DVC on a temporary copy -------------------------------------------------------

FAKE_CINESCOPE = """#!{python}
\"\"\"Stand-in for `cinescope <model> <step>`: writes the step's outputs, logs the stage.\"\"\"
import json, os, pathlib, sys
model, step = sys.argv[1:3]
home = pathlib.Path(os.environ["CINESCOPE_HOME"])
scene = home / "scene"
outputs = {{
    "labels": [scene / "labels.json"],
    "features": [scene / "prepared" / "segments.json"],
    "train": [scene / "train" / "run.json"],
    "evaluate": [scene / "metrics.json"],
    "genre_train": [home / "genre" / "model.joblib", home / "genre" / "train.json"],
    "mood_train": [home / "mood" / "model.joblib", home / "mood" / "train.json"],
}}
stage = step if model == "scene" else f"{{model}}_{{step}}"
for output in outputs[stage]:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({{"f1": 1.0}}))
with open(os.environ["FAKE_CINESCOPE_LOG"], "a") as log:
    log.write(f"{{stage}} {{home}}\\n")
"""


def make_data_root(data: Path) -> None:
    """The labelled folders the stages depend on (their content is not read here)."""
    (data / "datasets" / "scene").mkdir(parents=True)
    (data / "datasets" / "scene" / "annotations.csv").write_text("item_id,start_s,end_s,label\n")
    for model, label in (("genre", "jazz"), ("mood", "calm")):
        (data / "datasets" / model / label).mkdir(parents=True)
        (data / "datasets" / model / label / "1.txt").write_text(label)


class TempPipeline:
    """A git + DVC repository holding copies of the pipeline files and the code they list."""

    def __init__(self, root: Path, data: Path) -> None:
        self.root, self.data, self.log = root / "repo", data, root / "calls.log"
        self.root.mkdir()
        for name in ("dvc.yaml", "params.yaml", ".gitignore", ".dvcignore"):
            shutil.copy2(REPO_ROOT / name, self.root / name)
        for stage in _stages().values():
            for dep in stage["deps"]:
                if "${" in dep:
                    continue
                source, target = REPO_ROOT / dep, self.root / dep
                if source.is_dir():
                    shutil.copytree(
                        source,
                        target,
                        dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"),
                    )
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
        bin_dir = root / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "cinescope"
        fake.write_text(FAKE_CINESCOPE.format(python=sys.executable), encoding="utf-8")
        fake.chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1",
            "FAKE_CINESCOPE_LOG": str(self.log),
            "GIT_AUTHOR_NAME": "test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
        }
        self.run("git", "init", "--quiet")
        self.dvc("init", "--quiet")
        make_data_root(data)
        self.point_at(data)

    def point_at(self, data: Path) -> None:
        """What `cinescope scene data-root` does, with the copy's data-root.yaml as target."""
        settings = Settings(home=data, scene_labels_dir=data / "datasets" / "scene")
        write_data_root(settings, target=self.root / "data-root.yaml")

    def run(self, *command: str) -> str:
        done = subprocess.run(
            command, cwd=self.root, env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def dvc(self, *args: str) -> str:
        return self.run(sys.executable, "-m", "dvc", *args)

    def stale(self) -> dict[str, Any]:
        return dict(json.loads(self.dvc("status", "--json")))

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.is_file() else []


@pytest.fixture
def pipeline(tmp_path: Path) -> TempPipeline:
    """A copy whose data root lies outside the repository, as a user's CINESCOPE_HOME may."""
    return TempPipeline(tmp_path, tmp_path / "data")


def test_repro_runs_every_stage_in_the_data_root_then_nothing(pipeline: TempPipeline) -> None:
    pipeline.dvc("repro")
    data = pipeline.data
    assert sorted(pipeline.calls()) == sorted(f"{stage} {data}" for stage in _stages())
    scene_calls = [call for call in pipeline.calls() if call.split()[0] in SCENE_STAGES]
    assert scene_calls == [f"{step} {data}" for step in SCENE_STAGES]  # in pipeline order
    assert (data / "scene" / "metrics.json").is_file()
    assert (pipeline.root / "dvc.lock").is_file()
    assert pipeline.stale() == {}
    pipeline.dvc("repro")
    assert len(pipeline.calls()) == len(_stages())


def test_an_edited_dependency_makes_its_stages_stale(pipeline: TempPipeline) -> None:
    pipeline.dvc("repro")
    with (pipeline.root / "ops" / "scene" / "evaluate.py").open("a") as source:
        source.write("\n# edited\n")
    stale = pipeline.stale()
    assert set(stale) == {"train", "evaluate"}
    assert stale["train"] == [{"changed deps": {"ops/scene/evaluate.py": "modified"}}]
    with (pipeline.root / "ops" / "genre" / "tracking.py").open("a") as source:
        source.write("\n# edited\n")
    assert set(pipeline.stale()) == {"train", "evaluate", "genre_train"}


def test_another_data_root_makes_every_stage_stale(pipeline: TempPipeline, tmp_path: Path) -> None:
    pipeline.dvc("repro")
    elsewhere = tmp_path / "elsewhere"
    make_data_root(elsewhere)
    pipeline.point_at(elsewhere)
    assert set(pipeline.stale()) == set(_stages())
    pipeline.dvc("repro")
    assert sorted(pipeline.calls()[-len(_stages()) :]) == sorted(
        f"{stage} {elsewhere}" for stage in _stages()
    )


def test_training_and_the_gate_are_never_replayed_from_the_run_cache(
    pipeline: TempPipeline,
) -> None:
    """Back to parameters seen before, DVC could restore train/evaluate outputs from its run
    cache without registering a version or running the gate; here they run each time."""
    params = pipeline.root / "params.yaml"
    original = params.read_text()
    changed = yaml.safe_load(original)
    changed["scene"]["epochs"] += 1
    pipeline.dvc("repro")
    params.write_text(yaml.safe_dump(changed))
    pipeline.dvc("repro")
    params.write_text(original)
    pipeline.dvc("repro")
    steps = [call.split()[0] for call in pipeline.calls()]
    assert steps.count("train") == 3
    assert steps.count("evaluate") == 3
    assert not list((pipeline.root / ".dvc" / "cache").glob("runs/**/*"))
