//! A small seeded generator for weight initialisation and sampling.
//!
//! libtorch's generator is global: another thread (a parallel test, a dropout layer) can draw
//! from it between `manual_seed` and the draw, and CUDA has its own. Seeded work here uses
//! this generator instead, so a seed gives the same numbers on every device and in any thread
//! interleaving. Each variable gets its own stream, derived from the seed and its name.
use tch::{Kind, Tensor};

/// SplitMix64.
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A stream for one named variable: independent of the order variables are drawn in.
    pub fn for_name(seed: u64, name: &str) -> Self {
        // FNV-1a of the name, mixed with the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let mut r = Self(seed ^ h.rotate_left(17));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `n` float32 values uniform in (0, 1] (24-bit resolution), as a CPU tensor.
    pub fn uniform_open0(&mut self, n: usize) -> Tensor {
        let mut v = Vec::with_capacity(n);
        let mut i = 0;
        while i < n {
            let x = self.next_u64();
            v.push(((x >> 40) as f32 + 1.0) * (1.0 / 16_777_216.0));
            if i + 1 < n {
                v.push((((x >> 8) & 0xff_ffff) as f32 + 1.0) * (1.0 / 16_777_216.0));
            }
            i += 2;
        }
        Tensor::from_slice(&v)
    }

    /// A CPU float32 tensor of `shape` with values uniform in [lo, hi).
    pub fn uniform(&mut self, shape: &[i64], lo: f64, hi: f64) -> Tensor {
        let n: i64 = shape.iter().product();
        let u = self.uniform_open0(n.max(0) as usize);
        // (0, 1] -> [0, 1)
        let scaled: Tensor = (u * -1.0 + 1.0) * (hi - lo) + lo;
        scaled.view(shape)
    }

    /// A CPU float32 tensor of `shape` with values N(mean, std) (Box-Muller).
    pub fn normal(&mut self, shape: &[i64], mean: f64, std: f64) -> Tensor {
        let n: i64 = shape.iter().product();
        let n = n.max(0) as usize;
        let u1 = self.uniform_open0(n);
        let u2 = self.uniform_open0(n);
        let z = (u1.log() * -2.0).sqrt() * (u2 * (2.0 * std::f64::consts::PI)).cos();
        (z.to_kind(Kind::Float) * std + mean).view(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_distributed() {
        let a = SeededRng::for_name(1, "wte.weight").normal(&[20000], 0.0, 2.0);
        let b = SeededRng::for_name(1, "wte.weight").normal(&[20000], 0.0, 2.0);
        let c = SeededRng::for_name(1, "wpe.weight").normal(&[20000], 0.0, 2.0);
        assert_eq!((&a - &b).abs().max().double_value(&[]), 0.0);
        assert!((&a - &c).abs().max().double_value(&[]) > 0.0);
        assert!((a.std(true).double_value(&[]) - 2.0).abs() < 0.05);
        assert!(a.mean(Kind::Float).double_value(&[]).abs() < 0.05);
        let u = SeededRng::new(3).uniform(&[10000], -0.5, 0.5);
        assert!(u.min().double_value(&[]) >= -0.5 && u.max().double_value(&[]) < 0.5);
        assert!(u.mean(Kind::Float).double_value(&[]).abs() < 0.02);
    }
}
