"""Progress lines: few enough not to bury a cell, and always one at the end."""

from __future__ import annotations

from labhelpers.batches import predict_in_batches
from labhelpers.progress import EpochProgress, Ticker

import keras
import numpy as np


def test_ticker_prints_when_due_and_always_at_the_end(capsys, monkeypatch):
    clock = iter([0.0, 1.0, 2.0, 6.0, 6.5, 7.0])
    monkeypatch.setattr("labhelpers.progress.time.monotonic", lambda: next(clock))
    ticker = Ticker("features", 5, "photo", every=5.0)  # starts at 0.0
    for done in range(1, 6):  # at 1.0, 2.0: not due; 6.0: due; 6.5: not; 7.0: the last
        ticker.tick(done, "ok" if done == 5 else "")
    assert capsys.readouterr().out.splitlines() == [
        "features: photo 3/5",
        "features: photo 5/5, ok",
    ]


def test_epoch_progress_shows_the_epochs_metrics(capsys):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    x, y = np.zeros((8, 2)), np.zeros(8)
    model.fit(x, y, validation_data=(x, y), epochs=3, verbose=0, callbacks=[EpochProgress("run")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("run: epoch 3/3, loss ")
    assert "accuracy 1" in lines[-1] and "val_accuracy 1" in lines[-1]
    assert len(lines) <= 3


def test_predict_in_batches_reports_progress_only_when_asked(capsys):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    inputs = np.ones((10, 2), dtype="uint8")
    quiet = predict_in_batches(model, inputs, batch_size=4)
    assert capsys.readouterr().out == ""
    loud = predict_in_batches(model, inputs, batch_size=4, progress="features")
    assert capsys.readouterr().out.splitlines()[-1] == "features: input 10/10"
    np.testing.assert_array_equal(quiet, loud)
