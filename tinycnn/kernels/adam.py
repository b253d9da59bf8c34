"""Adam's step for one parameter in one pass over memory: the same float operations, in the same order, as the
NumPy lines of ``tinycnn.optim.Adam.update`` (its reference, which the reference kernel set runs), so the two
give the same bits.

In NumPy each line of Adam's update (scale m, add (1 - beta1) * g, scale v,
add (1 - beta2) * g * g, take the square root, divide, ...) is a pass over
the whole parameter, with a temporary array for most of them: about ten
passes. For a parameter of a million values (the 9216 x 128 linear layer of
PyTorch's MNIST example) that is most of what a small batch's step costs
after the convolutions. Here each value is read and written once.

The scalars come in already cast to the arrays' dtype, as NumPy casts a
Python float that meets a float32 array, so that each operation rounds
exactly where NumPy's does.

``error_model="numpy"``: a float division by zero gives inf or NaN, as in
NumPy, instead of Numba's default of raising ZeroDivisionError; that
default tests every divisor, which keeps the compiler from doing the loop's
divisions and square roots several values at a time, and made the pass
slower than NumPy's ten.
"""

import numpy as np

from tinycnn.kernels.jit import njit


@njit(error_model="numpy")
def adam_update(grad, exp_avg, exp_avg_sq, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size,
                bias_correction2_sqrt, eps):
    """Update the moments in place and return the step to subtract from the parameter.

    grad, exp_avg, exp_avg_sq: (P,), one dtype (float32 or float64), C-contiguous; the moments are updated in place
    beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps: scalars of that dtype
        (step_size = lr / (1 - beta1**t), bias_correction2_sqrt = sqrt(1 - beta2**t))
    returns update (P,): step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)

    Per value, in NumPy's order: m = m * beta1; m = m + one_minus_beta1 * g;
    v = v * beta2; v = v + (one_minus_beta2 * g) * g; then the update.
    """
    update = np.empty_like(grad)
    for i in range(grad.shape[0]):
        g = grad[i]
        m = exp_avg[i] * beta1
        m = m + one_minus_beta1 * g
        v = exp_avg_sq[i] * beta2
        v = v + (one_minus_beta2 * g) * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        update[i] = step_size * m / (np.sqrt(v) / bias_correction2_sqrt + eps)
    return update
