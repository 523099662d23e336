"""TensorFlow's side of rodan-sae's reference tests (tests/keras.rs).

Runs in the venv of scripts/build-tensorflow.sh: tensorflow-cpu 2.15.1, the TensorFlow that
DDMAL/Paco_classifier pins, whose Keras 2.15 writes and reads the models upstream's jobs use.

  make OUT.hdf5 HEIGHT WIDTH SEED PATCHES N PRED [TARGET]
      Builds upstream's SAE (written here from get_sae's layer list), trains it for a few steps
      on the N patches in PATCHES (raw float32, N x HEIGHT x WIDTH x 3, BGR scaled as upstream
      scales) to find their dark pixels (TARGET "dark", the default), light pixels ("light")
      or red ones ("red"), saves it with model.save as upstream's trainer does, and writes its
      predictions for the patches to PRED (raw float32, N x HEIGHT x WIDTH).
  predict MODEL.hdf5 HEIGHT WIDTH PATCHES N PRED
      Loads a model with keras.models.load_model, prints its compile settings as JSON, writes its
      predictions for the patches to PRED, then checks it can go on training (one step).
  classify PAGE.png HEIGHT WIDTH LABELS MARGINS MODEL.hdf5...
      Upstream's process_image_msae in "logical" mode over the page (read with cv2.imread(p, 1)):
      writes each pixel's label (uint8) to LABELS and, to MARGINS (float32), how far the chosen
      model's probability is above the runner-up's.
  binarize MODEL.h5 PAGE.png SCORES
      SAE Binarization's walk (upstream's run_binarize) with the REDNet at MODEL.h5 over the
      page (read with cv2.IMREAD_UNCHANGED; a colour page made grey as upstream makes it), with
      the two changes rodan-sae makes (sae/src/binarize.rs): the last window of a row or column
      ends at the border, and a page under 256 pixels grows by its edge pixels. Writes each
      pixel's score (float32) to SCORES.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.keras import Model, layers  # noqa: E402
from tensorflow.keras.models import load_model  # noqa: E402


def sae(height, width):
    """get_sae's architecture: 32 base filters, two poolings, two upsamplings with skips."""
    ff = 32

    def conv(filters, size):
        return layers.Conv2D(
            filters, size, activation="relu", padding="same", kernel_initializer="he_normal"
        )

    inputs = layers.Input(shape=(height, width, 3))
    masked = layers.Masking(mask_value=-1)(inputs)
    c1 = conv(ff, 3)(conv(ff, 3)(masked))
    c2 = conv(ff * 2, 3)(conv(ff * 2, 3)(layers.MaxPooling2D(pool_size=(2, 2))(c1)))
    c7 = conv(ff * 8, 3)(conv(ff * 8, 3)(layers.MaxPooling2D(pool_size=(2, 2))(c2)))
    u8 = conv(ff * 4, 2)(layers.UpSampling2D(size=(2, 2))(c7))
    c8 = conv(ff * 4, 3)(conv(ff * 4, 3)(layers.Concatenate(axis=3)([c2, u8])))
    u9 = conv(ff * 2, 2)(layers.UpSampling2D(size=(2, 2))(c8))
    c9 = conv(ff * 2, 3)(conv(ff * 2, 3)(layers.Concatenate(axis=3)([c1, u9])))
    c9 = conv(2, 3)(c9)
    out = layers.Conv2D(1, 1, activation="sigmoid")(c9)
    model = Model(inputs=inputs, outputs=out)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate=1e-4),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def patches(path, n, height, width):
    return np.fromfile(path, dtype=np.float32).reshape(n, height, width, 3)


def target(x, kind):
    dark = x.mean(axis=-1, keepdims=True) > 0.3
    if kind == "dark":
        return dark.astype(np.float32)
    if kind == "light":
        return (~dark).astype(np.float32)
    if kind == "red":
        # Scaled values are (255 - v) / 255 in BGR order: red ink has a small red value.
        return (x[..., 1:2] - x[..., 2:3] > 0.15).astype(np.float32)
    raise ValueError(kind)


def make(out, height, width, seed, patch_path, n, pred_path, kind="dark"):
    tf.keras.utils.set_random_seed(seed)
    x = patches(patch_path, n, int(height), int(width))
    model = sae(int(height), int(width))
    if kind != "none":
        model.fit(x, target(x, kind), batch_size=2, epochs=3, verbose=0)
    model.save(out)
    model.predict(x, verbose=0)[..., 0].astype(np.float32).tofile(pred_path)


def predict(model_path, height, width, patch_path, n, pred_path):
    model = load_model(model_path)
    x = patches(patch_path, n, int(height), int(width))
    model.predict(x, verbose=0)[..., 0].astype(np.float32).tofile(pred_path)
    opt = model.optimizer.get_config()
    y = (x[:1].mean(axis=-1, keepdims=True) > 0.3).astype(np.float32)
    loss = model.train_on_batch(x[:1], y)
    print(json.dumps({
        "loss": getattr(model.loss, "__name__", str(model.loss)),
        "optimizer": opt["name"],
        "learning_rate": float(opt["learning_rate"]),
        "layers": [layer.name for layer in model.layers],
        "trains": bool(np.all(np.isfinite(loss))),
    }))


def classify(page_path, w_height, w_width, labels_path, margins_path, *model_paths):
    w_height, w_width = int(w_height), int(w_width)
    image = cv2.imread(page_path, 1)
    padding = 25
    padded = cv2.copyMakeBorder(image, padding, padding, padding, padding, cv2.BORDER_REPLICATE)
    pad_h, pad_w, _ = padded.shape
    img_h, img_w, _ = image.shape
    models = [load_model(p) for p in model_paths]
    labels = np.zeros((pad_h + padding * 2, pad_w + padding * 2), "uint8")
    margins = np.zeros(labels.shape, "float32")
    corners = []
    for row in range(0, pad_h, w_height - padding * 2 - 1):
        for col in range(0, img_w, w_width - padding * 2 - 1):
            corners.append((min(row, pad_h - w_height), min(col, pad_w - w_width)))
    # The windows are predicted in batches, then written in upstream's order: a model's output
    # for a window does not depend on the other windows of its batch.
    samples = np.stack([
        (255.0 - padded[r:r + w_height, c:c + w_width]) / 255.0 for r, c in corners
    ])
    scores = np.stack([m.predict(samples, batch_size=32, verbose=0)[..., 0] for m in models])
    inner = (slice(padding, w_height - padding), slice(padding, w_width - padding))
    for k, (row, col) in enumerate(corners):
        window = scores[:, k]
        out = (slice(row + padding, row + w_height - padding),
               slice(col + padding, col + w_width - padding))
        labels[out] = np.argmax(window, axis=0)[inner]
        top2 = np.sort(window, axis=0)[-2:]
        margins[out] = (top2[1] - top2[0])[inner]
    crop = (slice(padding, padding + img_h), slice(padding, padding + img_w))
    labels[crop].tofile(labels_path)
    margins[crop].astype(np.float32).tofile(margins_path)


def binarize(model_path, page_path, scores_path):
    model = load_model(model_path, compile=False)
    image = cv2.imread(page_path, cv2.IMREAD_UNCHANGED)
    if image.ndim == 3 and image.shape[2] == 4:
        image[image[:, :, 3] == 0] = np.average(image[image[:, :, 3] > 0], axis=0)
    if image.ndim > 2:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    rows, cols = image.shape
    window, margin = 256, 5
    grow_h, grow_w = max(0, window - rows - 2 * margin), max(0, window - cols - 2 * margin)
    top, left = margin + grow_h // 2, margin + grow_w // 2
    padded = np.pad(image, ((top, margin + grow_h - grow_h // 2),
                            (left, margin + grow_w - grow_w // 2)), mode="edge")
    img = 255.0 - padded.astype("float32")
    step = window - 2 * margin

    def starts(n):
        return sorted({min(i * step, n - window) for i in range(-(-n // step))})

    corners = [(r, c) for r in starts(img.shape[0]) for c in starts(img.shape[1])]
    x = np.stack([img[r:r + window, c:c + window] for r, c in corners])[..., np.newaxis]
    pred = model.predict(x, batch_size=4, verbose=0)[..., 0]
    scores = np.zeros(img.shape, "float32")
    inner = slice(margin, window - margin)
    for k, (r, c) in enumerate(corners):
        scores[r + margin:r + window - margin, c + margin:c + window - margin] = pred[k, inner, inner]
    scores[top:top + rows, left:left + cols].astype(np.float32).tofile(scores_path)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "make":
        make(args[0], args[1], args[2], int(args[3]), args[4], int(args[5]), args[6], *args[7:])
    elif command == "predict":
        predict(args[0], args[1], args[2], args[3], int(args[4]), args[5])
    elif command == "classify":
        classify(*args)
    elif command == "binarize":
        binarize(*args)
    else:
        sys.exit(f"unknown command {command}")
