"""Pictures of a trial, as the study's notebooks showed them: curves, augmented samples, mistakes.

matplotlib is an optional extra (`pip install -e ".[plots]"`); without it the
scripts say so once and carry on.
"""

from pathlib import Path

import numpy as np

from tinycnn.files import atomic_write

PLOTS_DIR = Path(__file__).resolve().parent / "results" / "plots"


def trial_figure(folder=PLOTS_DIR):
    """A function that draws one trial's PNG, or None (saying why, once) if matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: pictures are skipped (pip install -e ".[plots]" to get them)')
        return None

    def draw(record, train_images, train_labels, augment, test_images, test_labels, predictions):
        """One PNG: loss and running accuracy per batch; 16 augmented training images; 16 test mistakes."""
        figure = plt.figure(figsize=(12, 9.5), dpi=80, layout="constrained")
        title = (f"trial {record['trial']}{' (ours)' if record['ours'] else ''}: {record['model']} model, "
                 f"{record['params']:,} params, {record['optimizer']} lr {record['lr']}, batch {record['batch_size']}"
                 f", {record['epochs_run']} epoch(s); held-out test {record['test_acc']:.2f} %, "
                 f"study's metric {record['study_metric_acc']:.2f} %" + (", DIVERGED" if record["diverged"] else ""))
        figure.suptitle(title, fontsize=10)
        curves, samples_part, mistakes_part = figure.subfigures(3, 1, height_ratios=[1.3, 1, 1])
        loss_axes, acc_axes = curves.subplots(1, 2)
        loss_axes.plot(record["loss_per_batch"], color="tab:red")
        loss_axes.set(xlabel="batch", ylabel="training loss", title="loss per batch")
        acc_axes.plot(record["running_acc_per_batch"], color="tab:blue", label="running, training")
        acc_axes.set(xlabel="batch", ylabel="%", title="running training accuracy", ylim=(0, 100))
        if record.get("val_acc_per_epoch"):  # validation after each epoch, at the batch that ended it
            per_epoch = len(record["loss_per_batch"]) // len(record["val_acc_per_epoch"])
            ends = [per_epoch * (i + 1) - 1 for i in range(len(record["val_acc_per_epoch"]))]
            acc_axes.plot(ends, record["val_acc_per_epoch"], "o-", color="tab:green", label="validation")
            acc_axes.axvline(ends[record["kept_epoch"] - 1], color="tab:green", linestyle=":", label="kept epoch")
            acc_axes.set(title="accuracy", ylim=(90, 100))
            acc_axes.legend(loc="lower right", fontsize=8)

        samples = augment(train_images[:16])
        samples_part.suptitle("augmented training images (the study's transform)", fontsize=9)
        for index, axes in enumerate(samples_part.subplots(2, 8).ravel()):
            axes.imshow(samples[index, 0], cmap="gray")
            axes.set_title(f"label {train_labels[index]}", fontsize=8)
            axes.axis("off")
        wrong = np.flatnonzero(predictions != test_labels)
        mistakes_part.suptitle(f"misclassified test images: {len(wrong):,} of {len(test_labels):,} (first 16)",
                               fontsize=9)
        for slot, axes in enumerate(mistakes_part.subplots(2, 8).ravel()):
            axes.axis("off")
            if slot < len(wrong):
                index = wrong[slot]
                axes.imshow(test_images[index], cmap="gray")
                axes.set_title(f"true {test_labels[index]}, said {predictions[index]}", fontsize=8,
                               color="tab:red")
        try:
            with atomic_write(folder / f"{record['trial']}.png", "wb") as stream:
                figure.savefig(stream, format="png")
        finally:
            plt.close(figure)

    return draw
