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
        acc_axes.plot(record["running_acc_per_batch"], color="tab:blue")
        acc_axes.set(xlabel="batch", ylabel="%", title="running training accuracy", ylim=(0, 100))

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
