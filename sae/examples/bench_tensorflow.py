"""TensorFlow's side of the benchmark (scripts/bench-sae.sh): the same models, windows, page
and training patches that sae/examples/bench.rs wrote to DIR, run as upstream runs them, in the
venv of scripts/build-tensorflow.sh (tensorflow-cpu 2.15.1, or a TensorFlow with CUDA where
there is one). Prints its figures as JSON.

Usage: python bench_tensorflow.py DIR PATCHES BATCH MODELS TRAIN_PATCHES TRAIN_SIZE TRAIN_BATCH
EPOCHS BINARIZE (1: SAE Binarization's REDNet on the page too, from DIR/rednet.h5)
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.keras.models import load_model  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import keras_reference  # noqa: E402  (upstream's page walk, process_image_msae)


def main(directory, n, batch, models, tn, ts, tb, epochs, binarize):
    n, batch, models, tn, ts, tb, epochs = map(int, (n, batch, models, tn, ts, tb, epochs))
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    gpus = tf.config.list_physical_devices("GPU")
    device = f"GPU ({gpus[0].name})" if gpus else f"the CPU ({os.cpu_count()} threads)"
    windows = np.fromfile(path("windows.f32"), dtype=np.float32).reshape(n, 256, 256, 3)
    model = load_model(path("model0.h5"))
    model.predict(windows[:batch], batch_size=batch, verbose=0)
    started = time.perf_counter()
    model.predict(windows, batch_size=batch, verbose=0)
    infer = time.perf_counter() - started

    scratch = path("tf-labels.u8"), path("tf-margins.f32")
    model_paths = [path(f"model{k}.h5") for k in range(models)]
    started = time.perf_counter()
    keras_reference.classify(path("page.png"), 256, 256, *scratch, *model_paths)
    page = time.perf_counter() - started

    binarize_s = None
    if binarize == "1":
        started = time.perf_counter()
        keras_reference.binarize(path("rednet.h5"), path("page.png"), path("tf-scores.f32"))
        binarize_s = time.perf_counter() - started

    x = np.fromfile(path("train_x.f32"), dtype=np.float32).reshape(tn, ts, ts, 3)
    y = np.fromfile(path("train_y.f32"), dtype=np.float32).reshape(tn, ts, ts, 1)
    trainee = load_model(path("train.h5"))

    class Timer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append({"loss": float(logs["loss"]), "seconds": time.perf_counter() - self.started})

    seconds = []
    trainee.fit(x, y, batch_size=tb, epochs=epochs, shuffle=False, verbose=0, callbacks=[Timer()])
    print(json.dumps({
        "engine": f"TensorFlow {tf.__version__}",
        "device": device,
        "windows": n, "batch": batch,
        "patches_per_second": n / infer,
        "models": models,
        "seconds_per_page": page,
        "seconds_per_page_binarization": binarize_s,
        "epochs": seconds,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
