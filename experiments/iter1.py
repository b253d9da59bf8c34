"""Iteration 1 of the study: the 593,200-parameter baseline, SGD lr 10.01, momentum 0.9, three batch sizes.

    python experiments/iter1.py                # trials 1a, 1b, 1c
    python experiments/iter1.py --trial 1b     # one of them

The study's learning rate of 10.01 makes every run diverge (loss NaN); the
study then scored its NaN networks at 9.87 %, the share of zeros among the
training labels, because a NaN network predicts class 0 everywhere.
"""

import sys

from harness import Trial, main

NAN = "loss NaN, 9.87 %"
TRIALS = [
    Trial("1a", "baseline", batch_size=512, optimizer="sgd", lr=10.01, momentum=0.9, study_reported_acc=9.87,
          study_reported=f"{NAN} (running 9.94 %)"),
    Trial("1b", "baseline", batch_size=256, optimizer="sgd", lr=10.01, momentum=0.9, study_reported_acc=9.87,
          study_reported=f"{NAN} (running 9.88 %)"),
    Trial("1c", "baseline", batch_size=1024, optimizer="sgd", lr=10.01, momentum=0.9, study_reported_acc=9.87,
          study_reported=f"{NAN} (running 9.95 %)"),
]

if __name__ == "__main__":
    sys.exit(main(__doc__.splitlines()[0], TRIALS))
