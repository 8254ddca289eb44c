"""Install-time warm-up: compile librosa's numba kernels once per environment.

Run by ``make`` after installing, so no timed test or demo pays the ~30 s.
"""

from __future__ import annotations


def main() -> None:
    import librosa
    import numpy as np

    signal = np.sin(np.linspace(0, 2000 * np.pi, 16000)).astype(np.float32)
    librosa.feature.melspectrogram(y=signal, sr=16000, n_mels=64)
    librosa.resample(signal, orig_sr=16000, target_sr=8000)
    print("warm-up done: librosa kernels compiled")


if __name__ == "__main__":
    main()
