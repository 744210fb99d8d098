//! numpy's `random_poisson_ptrs`: Hörmann's transformed rejection with squeeze (PTRS),
//! "The transformed rejection method for generating Poisson random variables", 1993. Used
//! for means of 10 and more; the Handbook's means are below 4, so this path exists for
//! completeness of `RandomState::poisson` and is checked against numpy in the tests.

/// ln(2 pi), `lg2pi` in numpy's `random_loggam`.
const LOG_TWO_PI: f64 = 1.837_877_066_409_345_3;

/// Stirling-series coefficients of numpy's `random_loggam`, spelled as in numpy's source so
/// they can be compared by eye (one has a trailing zero clippy objects to).
#[allow(clippy::excessive_precision)]
const LOGGAM_COEFFS: [f64; 10] = [
    8.333333333333333e-02,
    -2.777777777777778e-03,
    7.936507936507937e-04,
    -5.952380952380952e-04,
    8.417508417508418e-04,
    -1.917526917526918e-03,
    6.410256410256410e-03,
    -2.955065359477124e-02,
    1.796443723688307e-01,
    -1.39243221690590e+00,
];

/// Below this argument `random_loggam` shifts up by recurrence before the series.
const LOGGAM_SHIFT_BELOW: f64 = 7.0;

/// numpy's `random_loggam(x)`: log Gamma(x) for x > 0.
fn loggam(x: f64) -> f64 {
    if x == 1.0 || x == 2.0 {
        return 0.0;
    }
    let n = if x < LOGGAM_SHIFT_BELOW {
        (LOGGAM_SHIFT_BELOW - x) as i64
    } else {
        0
    };
    let mut x0 = x + n as f64;
    let x2 = (1.0 / x0) * (1.0 / x0);
    let mut gl0 = LOGGAM_COEFFS[9];
    for coeff in LOGGAM_COEFFS[..9].iter().rev() {
        gl0 *= x2;
        gl0 += coeff;
    }
    let mut gl = gl0 / x0 + 0.5 * LOG_TWO_PI + (x0 - 0.5) * x0.ln() - x0;
    if x < LOGGAM_SHIFT_BELOW {
        for _ in 0..n {
            gl -= (x0 - 1.0).ln();
            x0 -= 1.0;
        }
    }
    gl
}

/// One Poisson(lam) draw, lam >= 10, from the given uniform source.
pub(crate) fn sample(lam: f64, mut next_double: impl FnMut() -> f64) -> u64 {
    let slam = lam.sqrt();
    let loglam = lam.ln();
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let invalpha = 1.1239 + 1.1328 / (b - 3.4);
    let vr = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        let u = next_double() - 0.5;
        let v = next_double();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + lam + 0.43).floor() as i64;
        if us >= 0.07 && v <= vr {
            return k as u64;
        }
        if k < 0 || (us < 0.013 && v > us) {
            continue;
        }
        let lhs = v.ln() + invalpha.ln() - (a / (us * us) + b).ln();
        if lhs <= -lam + k as f64 * loglam - loggam(k as f64 + 1.0) {
            return k as u64;
        }
    }
}
