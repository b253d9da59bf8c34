"""Iteration 2 of the study: the same 593,200-parameter model, batch 1024, six SGD learning rates and Adam.

    python experiments/iter2.py                # trials 2a .. 2g
    python experiments/iter2.py --trial 2e     # one of them
"""

import sys

from harness import Trial, main


def sgd(trial, lr, reported, text):
    return Trial(trial, "baseline", batch_size=1024, optimizer="sgd", lr=lr, momentum=0.9,
                 study_reported_acc=reported, study_reported=text)


TRIALS = [
    sgd("2a", 1.0, 9.87, "loss NaN, 9.87 %"),
    sgd("2b", 0.5, 10.44, "10.44 %"),
    sgd("2c", 0.1, 11.24, "11.24 %"),
    sgd("2d", 0.01, 11.24, "11.24 %"),
    sgd("2e", 0.001, 22.06, "22.06 %"),
    sgd("2f", 0.0001, 11.47, "11.47 %"),
    Trial("2g", "baseline", batch_size=1024, optimizer="adam", lr=0.1, study_reported_acc=10.44,
          study_reported="10.44 %"),
]

if __name__ == "__main__":
    sys.exit(main(__doc__.splitlines()[0], TRIALS))
