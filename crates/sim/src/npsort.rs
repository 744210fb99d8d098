//! numpy 1.x `argsort(kind="quicksort")` for 64-bit integer keys: introsort (median-of-3
//! quicksort, insertion sort below 16 elements, heapsort when too deep).
//!
//! Why not a stable sort: the Handbook sorts its transactions with pandas `sort_values`,
//! whose default quicksort is not stable, and transactions sharing a second land in the
//! order this algorithm leaves them. That order fixes TRANSACTION_ID. numpy 1.25+ hands the
//! same call to x86-simd-sort on AVX-512 CPUs, which orders ties differently (seen with
//! numpy 2.4.6); the published dataset predates that, so this is the numpy <= 1.24 code,
//! and a default run matches a numpy 1.24.4 run of the Handbook byte for byte.

/// Partitions at most this long (`pr - pl`) go to insertion sort (`SMALL_QUICKSORT`).
const SMALL_QUICKSORT: usize = 15;

/// Indices that sort `keys` ascending, exactly as numpy 1.24's `aquicksort_<long>`.
pub(crate) fn argsort_quicksort(keys: &[i64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    if order.len() < 2 {
        return order;
    }
    // `npy_get_msb(num) * 2`; depths go negative before heapsort takes over, hence i64.
    let msb = i64::from(usize::BITS - 1 - order.len().leading_zeros());
    // Stack of (pl, pr, depth) for the larger partitions still to sort.
    let mut stack: Vec<(usize, usize, i64)> = Vec::new();
    let (mut pl, mut pr, mut depth) = (0usize, order.len() - 1, msb * 2);
    loop {
        if depth < 0 {
            heapsort(keys, &mut order[pl..=pr]);
        } else {
            while pr - pl > SMALL_QUICKSORT {
                let pi = partition(keys, &mut order, pl, pr);
                depth -= 1;
                // Push the larger side, keep looping on the smaller one.
                if pi - pl < pr - pi {
                    stack.push((pi + 1, pr, depth));
                    pr = pi - 1;
                } else {
                    stack.push((pl, pi - 1, depth));
                    pl = pi + 1;
                }
            }
            insertion_sort(keys, &mut order[pl..=pr]);
        }
        match stack.pop() {
            Some((l, r, d)) => (pl, pr, depth) = (l, r, d),
            None => return order,
        }
    }
}

/// Median-of-3 partition of `order[pl..=pr]` (more than 16 items); returns the pivot slot.
fn partition(keys: &[i64], order: &mut [usize], pl: usize, pr: usize) -> usize {
    let key = |order: &[usize], i: usize| keys[order[i]];
    let pm = pl + ((pr - pl) >> 1);
    if key(order, pm) < key(order, pl) {
        order.swap(pm, pl);
    }
    if key(order, pr) < key(order, pm) {
        order.swap(pr, pm);
    }
    if key(order, pm) < key(order, pl) {
        order.swap(pm, pl);
    }
    let pivot = key(order, pm);
    let mut pi = pl;
    let mut pj = pr - 1;
    order.swap(pm, pj);
    loop {
        // The sentinels at pl (<= pivot) and pr - 1 (the pivot) stop both scans in bounds.
        pi += 1;
        while key(order, pi) < pivot {
            pi += 1;
        }
        pj -= 1;
        while pivot < key(order, pj) {
            pj -= 1;
        }
        if pi >= pj {
            break;
        }
        order.swap(pi, pj);
    }
    order.swap(pi, pr - 1);
    pi
}

fn insertion_sort(keys: &[i64], part: &mut [usize]) {
    for i in 1..part.len() {
        let item = part[i];
        let value = keys[item];
        let mut j = i;
        while j > 0 && value < keys[part[j - 1]] {
            part[j] = part[j - 1];
            j -= 1;
        }
        part[j] = item;
    }
}

/// numpy's `aheapsort_`, 1-based heap over `part`.
fn heapsort(keys: &[i64], part: &mut [usize]) {
    let n = part.len();
    // a[i] in numpy's 1-based code is part[i - 1] here.
    let sift = |part: &mut [usize], mut i: usize, n: usize, tmp: usize| {
        let mut j = i * 2;
        while j <= n {
            if j < n && keys[part[j - 1]] < keys[part[j]] {
                j += 1;
            }
            if keys[tmp] < keys[part[j - 1]] {
                part[i - 1] = part[j - 1];
                i = j;
                j += j;
            } else {
                break;
            }
        }
        part[i - 1] = tmp;
    };
    for l in (1..=n / 2).rev() {
        let tmp = part[l - 1];
        sift(part, l, n, tmp);
    }
    let mut n = n;
    while n > 1 {
        let tmp = part[n - 1];
        part[n - 1] = part[0];
        n -= 1;
        sift(part, 1, n, tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_handles_tiny_inputs() {
        assert!(argsort_quicksort(&[]).is_empty());
        assert_eq!(argsort_quicksort(&[7]), [0]);
        let keys: Vec<i64> = (0..1000).map(|i| (i * 7919) % 101).collect();
        let order = argsort_quicksort(&keys);
        assert!(order.windows(2).all(|w| keys[w[0]] <= keys[w[1]]));
    }

    /// numpy 1.24.4 on this AVX-512 machine (numpy 2.4.6 gives a different tie order):
    /// `np.array([...], dtype=np.int64).argsort(kind="quicksort")`.
    #[test]
    fn tie_order_matches_numpy_1_24() {
        let keys = [
            3, 1, 3, 2, 1, 3, 0, 2, 2, 1, 3, 3, 0, 1, 2, 3, 1, 1, 0, 2, 3, 1, 2, 0, 0, 3, 1, 2, 3,
            0, 1, 2, 3, 2, 1, 0, 3, 2, 1, 2,
        ];
        let expected = [
            29, 24, 18, 12, 6, 23, 35, 4, 1, 38, 9, 30, 21, 13, 34, 26, 16, 17, 27, 31, 33, 37, 19,
            39, 14, 8, 7, 3, 22, 20, 25, 15, 28, 11, 10, 32, 5, 36, 2, 0,
        ];
        assert_eq!(argsort_quicksort(&keys), expected);
    }

    #[test]
    fn heapsort_sorts() {
        let keys: Vec<i64> = (0..500).map(|i| (i * 31) % 17).collect();
        let mut part: Vec<usize> = (0..keys.len()).collect();
        heapsort(&keys, &mut part);
        assert!(part.windows(2).all(|w| keys[w[0]] <= keys[w[1]]));
    }
}
