"""Iteration 3 of the study: the reduced 61,461-parameter model, batch 1024, Adam with L2 weight decay.

    python experiments/iter3.py                # trials 3a, 3b, 3c
    python experiments/iter3.py --trial 3a     # one of them
"""

import sys

from harness import Trial, main

TRIALS = [
    Trial("3a", "reduced", batch_size=1024, optimizer="adam", lr=0.01, weight_decay=1e-4, study_reported_acc=96.23,
          study_reported="96.23 % (running train 78.57 %)"),
    Trial("3b", "reduced", batch_size=1024, optimizer="adam", lr=0.001, weight_decay=1e-4, study_reported_acc=92.40,
          study_reported="92.40 % (running 75.32 %); the write-up says \">95 %\""),
    Trial("3c", "reduced", batch_size=1024, optimizer="adam", lr=0.01, weight_decay=1e-3, study_reported_acc=96.18,
          study_reported="96.18 % (running 77.85 %)"),
]

if __name__ == "__main__":
    sys.exit(main(__doc__.splitlines()[0], TRIALS))
