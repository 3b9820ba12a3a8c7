//! A port of numpy's legacy `np.random.RandomState` (see [`RandomState`]).

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// A port of numpy's legacy `np.random.RandomState`: the MT19937 generator with numpy's seeding,
/// and the exact algorithms RandomState uses for `random_sample`, bounded `randint`, `shuffle`,
/// `permutation` and `choice(n, k, replace=False)`.
///
/// pandas' `DataFrame.sample(n, random_state=seed)` is `RandomState(seed).choice(len, n,
/// replace=False)`, which is `permutation(len)[:n]`; `sample(frac=1)` is a full permutation. With
/// this port the chapter's balancing and splitting are reproduced row for row.
///
/// ```
/// use spam_data::RandomState;
/// // np.random.RandomState(123).permutation(10)
/// assert_eq!(RandomState::new(123).permutation(10), [4, 0, 7, 5, 8, 3, 1, 6, 9, 2]);
/// ```
///
/// Not cryptographic; for reproducibility only.
#[derive(Clone)]
pub struct RandomState {
    key: [u32; N],
    pos: usize,
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomState")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl RandomState {
    /// `np.random.RandomState(seed)` for an integer seed (numpy accepts 0..=2**32-1).
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; N];
        let mut s = seed;
        for (pos, slot) in key.iter_mut().enumerate() {
            *slot = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        RandomState { key, pos: N }
    }

    /// `np.random.RandomState([k0, k1, ...])` for an array seed (MT19937 `init_by_array`).
    /// An empty key is treated as `[0]`.
    pub fn from_key(init_key: &[u32]) -> Self {
        let init_key: &[u32] = if init_key.is_empty() { &[0] } else { init_key };
        let mut st = RandomState::new(19_650_218);
        let mt = &mut st.key;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(init_key.len()) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(init_key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= init_key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        st.pos = N;
        st
    }

    fn generate(&mut self) {
        let mt = &mut self.key;
        for i in 0..N {
            let y = (mt[i] & UPPER_MASK) | (mt[(i + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            mt[i] = mt[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// The next raw 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.generate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// Two raw outputs as one 64-bit value (high word first), as numpy's `next_uint64`.
    pub fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.next_u32());
        (hi << 32) | u64::from(self.next_u32())
    }

    /// `random_sample()`: a double in [0, 1) with 53 random bits.
    pub fn random_sample(&mut self) -> f64 {
        let a = self.next_u32() >> 5;
        let b = self.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) / 9_007_199_254_740_992.0
    }

    /// numpy's `random_interval(max)`: uniform in `0..=max` by masked rejection sampling.
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = mask_for(max);
        if max <= u64::from(u32::MAX) {
            loop {
                let v = u64::from(self.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        } else {
            loop {
                let v = self.next_u64() & mask;
                if v <= max {
                    return v;
                }
            }
        }
    }

    /// `randint(low, high)` (high exclusive) with numpy's legacy masked algorithm.
    ///
    /// # Panics
    /// If `low >= high` (numpy raises `ValueError`).
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        assert!(low < high, "randint: low >= high");
        let rng = high.wrapping_sub(low).wrapping_sub(1) as u64;
        if rng == u64::from(u32::MAX) {
            return low.wrapping_add(i64::from(self.next_u32()));
        }
        low.wrapping_add(self.interval(rng) as i64)
    }

    /// In-place `shuffle` of a sequence (numpy's legacy Fisher-Yates from the end).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.interval(i as u64) as usize;
            items.swap(i, j);
        }
    }

    /// `permutation(n)`: a shuffled `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        self.shuffle(&mut v);
        v
    }

    /// `choice(n, k, replace=False)` without weights: `permutation(n)[:k]`. This is what
    /// pandas' `sample(k, random_state=seed)` draws.
    ///
    /// # Panics
    /// If `k > n` (numpy raises `ValueError`).
    pub fn choice_without_replacement(&mut self, n: usize, k: usize) -> Vec<usize> {
        assert!(k <= n, "cannot take a larger sample than population");
        let mut v = self.permutation(n);
        v.truncate(k);
        v
    }
}

fn mask_for(max: u64) -> u64 {
    let mut mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    mask
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reference_mt19937_first_output() {
        // The reference MT19937 with init_genrand(5489) starts with 3499211612.
        assert_eq!(RandomState::new(5489).next_u32(), 3_499_211_612);
    }

    #[test]
    fn numpy_seed_123_values() {
        // np.random.RandomState(123).random_sample(2)
        let mut rs = RandomState::new(123);
        assert_eq!(rs.random_sample(), 0.6964691855978616);
        assert_eq!(rs.random_sample(), 0.28613933495037946);
        assert_eq!(
            RandomState::new(123).permutation(10),
            [4, 0, 7, 5, 8, 3, 1, 6, 9, 2]
        );
    }

    #[test]
    fn shuffle_of_tiny_inputs_is_a_no_op() {
        let mut rs = RandomState::new(1);
        let mut empty: [u8; 0] = [];
        rs.shuffle(&mut empty);
        let mut one = [7];
        rs.shuffle(&mut one);
        assert_eq!(one, [7]);
        assert_eq!(rs.interval(0), 0);
    }
}
