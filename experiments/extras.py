"""Our own trials, beside the study's, to test what the study concluded.

    python experiments/extras.py               # all of them
    python experiments/extras.py --trial x1    # one

- x1: does the 593,200-parameter model train when the learning rate is sane,
  the data shuffled and a few epochs given? (2d's recipe, shuffled, 3 epochs)
- 4a-s1 .. 4a-s3: trial 4a with other seeds, for its mean and spread.
- x3, x4: how much the 61,461- and 24,245-parameter models gain from more
  epochs (3a's and 4a's recipes, 5 epochs, test accuracy after each).
- 2c-s1 .. 2e-s2: iteration 2's middle learning rates with other seeds: are
  their one-epoch results a property of the rate, or of one draw?
"""

import sys

from harness import Trial, main

TRIALS = [
    Trial("x1", "baseline", batch_size=1024, optimizer="sgd", lr=0.01, momentum=0.9, epochs=3, shuffle=True,
          ours=True, study_trial="2d", description="2d (SGD lr 0.01, momentum 0.9), shuffled, 3 epochs"),
] + [
    Trial(f"4a-s{seed}", "minimal", batch_size=1024, optimizer="adam", lr=0.01, weight_decay=1e-4, ours=True,
          study_trial="4a", description=f"4a with seed {seed}", seed=seed)
    for seed in (1, 2, 3)
] + [
    Trial("x3", "reduced", batch_size=1024, optimizer="adam", lr=0.01, weight_decay=1e-4, epochs=5, ours=True,
          study_trial="3a", description="3a, 5 epochs"),
    Trial("x4", "minimal", batch_size=1024, optimizer="adam", lr=0.01, weight_decay=1e-4, epochs=5, ours=True,
          study_trial="4a", description="4a, 5 epochs"),
] + [
    Trial(f"{trial}-s{seed}", "baseline", batch_size=1024, optimizer="sgd", lr=lr, momentum=0.9, ours=True,
          study_trial=trial, description=f"{trial} with seed {seed}", seed=seed)
    for trial, lr in (("2c", 0.1), ("2d", 0.01), ("2e", 0.001)) for seed in (1, 2)
]

if __name__ == "__main__":
    sys.exit(main(__doc__.splitlines()[0], TRIALS))
