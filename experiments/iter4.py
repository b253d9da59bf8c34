"""Iteration 4 of the study: the minimal 24,245-parameter CNN, trial 4a.

    python experiments/iter4.py            # the study's trial, then its two accuracies
    python experiments/iter4.py --limit 3000 --no-progress   # a smoke run

Trial 4a: Adam lr 0.01, weight decay 1e-4 (L2), batch 1024, one epoch,
training augmentation, no shuffling. The study reported 95.39 % on its metric
(augmented training images); we report that metric and held-out test accuracy.
The record goes to experiments/runs/iter4.json (git ignores that folder), and
the run says how its figures stand against the committed record,
experiments/results/iter4.json; --update-results re-makes that one.
"""

import sys

from harness import Trial, main

TRIALS = [
    Trial("4a", "minimal", batch_size=1024, optimizer="adam", lr=0.01, weight_decay=1e-4,
          study_reported_acc=95.39, study_reported="57,232/60,000 = 95.39 % (running train 81.73 %)"),
]

if __name__ == "__main__":
    sys.exit(main(__doc__.splitlines()[0], TRIALS, record_name=lambda trial: "iter4.json"))
