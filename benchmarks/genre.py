"""Genre benchmark on real recordings, model and baseline side by side in one run.

``python -m benchmarks.genre`` from the repository root; it reads
``../shared/data/music`` and exits with a message when that folder is absent.

* **k-fold** on ``gtzan_dev`` (10 genres x 5 clips of 30 s): a stratified k-fold over
  tracks (never windows), each candidate set of window classifiers next to the MFCC
  statistics + SVM baseline trained and tested on the same folds; the chosen model (the
  default settings) is run with several seeds, since 50 tracks make one split noisy.
* **music gate** on ``librosa_examples``: the genre folders and ``_unlabeled`` are music,
  ``_non_music`` (read speech, a robin, a humpback whale) is not; the agreement per file
  and per window. The gate's thresholds were not set on these files. The tracks whose
  folder is also a GTZAN genre (classical, jazz) are scored by a model trained on all of
  ``gtzan_dev``, a cross-collection check.
* **throughput**: a long Ogg Vorbis file (GTZAN clips end to end, 44.1 kHz stereo):
  ``cinescope genre predict``'s path (decode, features, gate, model) against decoding its
  audio alone to the model's 22,050 Hz mono, best of ``--repeats``, interleaved.
* **listen**: real-time playback of a shorter such file: latency of each window's answer
  after the window's end, and CPU use while playing (process CPU time / wall time, as a
  share of the 2 cores it is pinned to).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ops.atomic import atomic_open
from ops.settings import REPO_ROOT

MUSIC_DIR = REPO_ROOT.parent / "shared" / "data" / "music"
RESULTS = Path(__file__).resolve().parent / "results"
CANDIDATES: tuple[tuple[str, ...], ...] = (
    ("svm",),
    ("logreg",),
    ("extra_trees",),
    ("hist_gradient_boosting",),
    ("svm", "logreg"),
    ("svm", "logreg", "extra_trees"),
)
FILE_RATE = 44_100


def kfold(folds: int, seeds: list[int], candidates: bool) -> dict[str, Any]:
    """Every candidate at the first seed, then the chosen settings at every seed."""
    from ops.genre.dataset import featurise_folder
    from ops.genre.evaluate import kfold_genres
    from ops.genre.model import GenreModel
    from ops.genre.params import GenreSettings

    tracks = featurise_folder(MUSIC_DIR / "gtzan_dev", GenreModel())
    print(f"gtzan_dev: {len(tracks)} tracks, {tracks.windows} windows in {tracks.seconds:.1f} s")
    rows = []
    for names in CANDIDATES if candidates else ():
        settings = GenreSettings.model_validate({"classifiers": names})
        result = kfold_genres(tracks, settings, folds=folds, seed=seeds[0])
        rows.append(_kfold_row(result))
        print(json.dumps(rows[-1]), flush=True)
    chosen = [kfold_genres(tracks, folds=folds, seed=seed) for seed in seeds]
    summary: dict[str, Any] = {
        "classifiers": "+".join(GenreSettings().classifiers),
        "folds": folds,
        "seeds": seeds,
        "accuracy_per_seed": [result.accuracy for result in chosen],
        "baseline_accuracy_per_seed": [result.baseline_accuracy for result in chosen],
        "accuracy": round(statistics.mean(r.accuracy for r in chosen), 4),
        "baseline_accuracy": round(statistics.mean(r.baseline_accuracy for r in chosen), 4),
        "per_genre_seed0": chosen[0].per_genre,
        "baseline_per_genre_seed0": chosen[0].baseline_per_genre,
    }
    summary["gain_points"] = round(100 * (summary["accuracy"] - summary["baseline_accuracy"]), 1)
    print(json.dumps(summary), flush=True)
    return {"candidates": rows, "chosen": summary}


def _kfold_row(result: Any) -> dict[str, Any]:
    return {
        "classifiers": "+".join(result.classifiers),
        "accuracy": result.accuracy,
        "baseline_accuracy": result.baseline_accuracy,
        "fold_accuracies": result.fold_accuracies,
        "seconds": result.seconds,
    }


def gate(model_path: Path) -> dict[str, Any]:
    """The gate's verdict on every librosa example, and the genre where GTZAN has one."""
    from ops.genre.model import GenreModel
    from ops.genre.predict import GenreClassifier

    classifier = GenreClassifier(GenreModel.load(model_path))
    folder = MUSIC_DIR / "librosa_examples"
    files: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*/*.ogg")):
        answer = classifier.classify_file(path)
        truth = path.parent.name != "_non_music"
        files.append(
            {
                "file": path.relative_to(folder).as_posix(),
                "music": answer.music,
                "truth": truth,
                "agrees": answer.music == truth,
                "music_share": answer.music_share,
                "window_kinds": answer.window_kinds,
                "genre": answer.genre,
            }
        )
        print(json.dumps(files[-1]), flush=True)
    windows = sum(sum(row["window_kinds"].values()) for row in files)
    windows_right = sum(
        row["window_kinds"].get("music", 0)
        if row["truth"]
        else sum(row["window_kinds"].values()) - row["window_kinds"].get("music", 0)
        for row in files
    )
    shared = [row for row in files if row["file"].split("/")[0] in classifier.model.labels]
    return {
        "files": files,
        "agreement": round(sum(row["agrees"] for row in files) / len(files), 4),
        "agreeing_files": f"{sum(row['agrees'] for row in files)}/{len(files)}",
        "window_agreement": round(windows_right / windows, 4),
        "cross_collection_genre": f"{sum(r['genre'] == r['file'].split('/')[0] for r in shared)}"
        f"/{len(shared)} (folders that are GTZAN genres, model trained on gtzan_dev)",
    }


def long_file(target: Path, minutes: float) -> Path:
    """GTZAN clips end to end, as 44.1 kHz stereo Ogg Vorbis, ``minutes`` long."""
    import soundfile
    from scipy.signal import resample_poly

    from ops.genre.audio import labelled_tracks, load_audio

    clips = [load_audio(track.path, 22_050) for track in labelled_tracks(MUSIC_DIR / "gtzan_dev")]
    order = np.random.default_rng(0).permutation(len(clips))
    audio = np.concatenate([clips[i] for i in order])[: int(minutes * 60 * 22_050)]
    while audio.size < minutes * 60 * 22_050:
        audio = np.concatenate([audio, audio])[: int(minutes * 60 * 22_050)]
    stereo = np.repeat(resample_poly(audio, 2, 1)[:, np.newaxis], 2, axis=1).astype(np.float32)
    # a second at a time: libsndfile's Vorbis encoder crashes on one large write
    with soundfile.SoundFile(target, "w", FILE_RATE, 2, format="OGG", subtype="VORBIS") as out:
        for start in range(0, len(stereo), FILE_RATE):
            out.write(stereo[start : start + FILE_RATE])
    return target


def throughput(model_path: Path, path: Path, repeats: int) -> dict[str, Any]:
    """Whole-file genre against decoding alone, best of ``repeats``, interleaved."""
    from ops.genre.audio import load_audio
    from ops.genre.model import GenreModel
    from ops.genre.predict import GenreClassifier

    classifier = GenreClassifier(GenreModel.load(model_path))
    classifier.classify_windows([np.zeros(classifier.model.settings.window_samples, np.float32)])
    duration = len(load_audio(path, classifier.sample_rate)) / classifier.sample_rate
    decode_s, genre_s = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        load_audio(path, classifier.sample_rate)
        decode_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        answer = classifier.classify_file(path)
        genre_s.append(time.perf_counter() - started)
    return {
        "file_seconds": round(duration, 1),
        "windows": answer.windows,
        "decode_s": round(min(decode_s), 3),
        "genre_s": round(min(genre_s), 3),
        "genre_over_decode": round(min(genre_s) / min(decode_s), 2),
        "decode_times_real_time": round(duration / min(decode_s), 1),
        "genre_times_real_time": round(duration / min(genre_s), 1),
    }


def listen(model_path: Path, path: Path) -> dict[str, Any]:
    """Play ``path`` in real time; latency per window and CPU use while playing."""
    from ops.genre.listen import listen_file, summarise
    from ops.genre.model import GenreModel
    from ops.genre.predict import GenreClassifier

    classifier = GenreClassifier(GenreModel.load(model_path))
    classifier.classify_windows([np.zeros(classifier.model.settings.window_samples, np.float32)])
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    updates = list(listen_file(path, classifier))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    latencies = sorted(update.latency_s for update in updates)
    summary = summarise(updates)
    return {
        **summary.model_dump(),
        "p95_latency_s": latencies[int(0.95 * (len(latencies) - 1))],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "cpu_share_of_one_core": round(cpu / wall, 3),
        "cpu_share_of_two_cores": round(cpu / wall / 2, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Genre model, gate, listen and speed benchmark.")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-candidates", action="store_true", help="only the chosen model")
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--listen-seconds", type=float, default=90.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not MUSIC_DIR.is_dir():
        print(f"skipped: {MUSIC_DIR} not found (shared media absent)")
        return
    cores = sorted(os.sched_getaffinity(0))[:2]
    os.sched_setaffinity(0, cores)  # the target machine: 2 cores
    from ops.genre.train import train_genre_model

    results: dict[str, Any] = {"kfold": kfold(args.folds, args.seeds, not args.no_candidates)}
    with tempfile.TemporaryDirectory(prefix="genre-bench-") as scratch:
        model = train_genre_model(MUSIC_DIR / "gtzan_dev", Path(scratch) / "genre.joblib").path
        results["gate"] = gate(model)
        print(json.dumps({k: v for k, v in results["gate"].items() if k != "files"}), flush=True)
        long = long_file(Path(scratch) / "long.ogg", args.long_minutes)
        results["throughput"] = throughput(model, long, args.repeats)
        print(json.dumps(results["throughput"]), flush=True)
        short = long_file(Path(scratch) / "listen.ogg", args.listen_seconds / 60)
        results["listen"] = listen(model, short)
        print(json.dumps(results["listen"]), flush=True)
    results["machine"] = {
        "python": platform.python_version(),
        "cpus": len(cores),
        "load_average": os.getloadavg(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_open(RESULTS / "genre.json") as handle:
        json.dump(results, handle, indent=2)
    print(f"wrote {RESULTS / 'genre.json'}")


if __name__ == "__main__":
    main()
