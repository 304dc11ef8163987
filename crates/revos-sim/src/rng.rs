//! The simulator's pseudo-random numbers: SplitMix64, keyed by what is drawn.
//!
//! Why not a crate: the data a seed produces must never change, and a PRNG
//! crate is free to change its algorithm or its float conversion between
//! versions (`rand` has done both). SplitMix64 is twenty lines, public domain
//! and fully specified, so writing it here fixes the stream forever and costs
//! no dependency.
//!
//! Draws are *counter-based*: every random quantity gets its own generator,
//! seeded from the tenant's seed, the day, what is being drawn and an index
//! (see [`Rng::keyed`]). Nothing is shared between draws, so the state needs
//! no generator to serialize, and two simulations that differ only by one
//! change see the same noise everywhere else, which is what makes a change's
//! effect measurable against a control run.
//!
//! Only additions, multiplications and comparisons are used to shape the
//! numbers (no `ln`, `exp` or `cos`, whose last bits vary between platform
//! maths libraries): normal noise is the Irwin–Hall sum of twelve uniforms.
//! The model's one maths-library call is `powf`, for diminishing returns
//! and a campaign's efficiency at set-up: its last bit may differ between
//! platforms' maths libraries, so the data is guaranteed identical on one
//! platform, and agrees elsewhere to about 1e-15 relative before counts are
//! rounded.

/// What a generator is drawing; part of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Stream {
    Spend = 1,
    Visits = 2,
    Leads = 3,
    Mql = 4,
    Sql = 5,
    Opp = 6,
    Deal = 7,
    Close = 8,
    Expansion = 9,
    Churn = 10,
    Margin = 11,
    Apply = 12,
    Setup = 13,
    Split = 14,
}

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output function: a bijective 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator starting from `seed`, as in the reference SplitMix64.
    #[cfg(test)]
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator for one draw site: the tenant's `seed`, the day number,
    /// the [`Stream`] and an index (a campaign, an opportunity, …).
    pub(crate) fn keyed(seed: u64, day: u64, stream: Stream, index: u64) -> Rng {
        let mut k = mix(seed ^ GOLDEN);
        k = mix(k ^ day.wrapping_mul(GOLDEN));
        k = mix(k ^ (stream as u64).wrapping_mul(0xd1b5_4a32_d192_ed03));
        k = mix(k ^ index.wrapping_mul(0x8cb9_2ba7_2f3d_8dd7));
        Rng(k)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// A uniform number in `[0, 1)` with 53 random bits.
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform index in `0..n` (`n` > 0; 0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for simulation, and exact integer maths.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Approximately standard normal noise (mean 0, sd 1, within ±6).
    pub(crate) fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }

    /// `1 + sd·z`, never below 0.2: a multiplicative noise factor.
    pub(crate) fn factor(&mut self, sd: f64) -> f64 {
        (1.0 + sd * self.normal()).max(0.2)
    }

    /// The number of successes in `n` trials of probability `p`.
    pub(crate) fn binomial(&mut self, n: u32, p: f64) -> u32 {
        let p = p.clamp(0.0, 1.0);
        let mut k = 0;
        for _ in 0..n {
            if self.uniform() < p {
                k += 1;
            }
        }
        k
    }

    /// A small Poisson count with mean `lambda`, approximated by a binomial
    /// with many trials (no `exp` needed).
    pub(crate) fn poisson_small(&mut self, lambda: f64) -> u32 {
        if lambda.is_nan() || lambda <= 0.0 {
            return 0;
        }
        let n = (lambda * 20.0).ceil().clamp(50.0, 10_000.0) as u32;
        self.binomial(n, lambda / f64::from(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_splitmix64() {
        // First outputs of the reference implementation for seed 0.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn keyed_streams_are_stable_and_distinct() {
        let a = Rng::keyed(7, 100, Stream::Leads, 2).next_u64();
        assert_eq!(a, Rng::keyed(7, 100, Stream::Leads, 2).next_u64());
        assert_ne!(a, Rng::keyed(7, 100, Stream::Leads, 3).next_u64());
        assert_ne!(a, Rng::keyed(7, 101, Stream::Leads, 2).next_u64());
        assert_ne!(a, Rng::keyed(8, 100, Stream::Leads, 2).next_u64());
        assert_ne!(a, Rng::keyed(7, 100, Stream::Mql, 2).next_u64());
    }

    #[test]
    fn shapes() {
        let mut r = Rng::new(42);
        let n = 20_000;
        let zs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = zs.iter().sum::<f64>() / n as f64;
        let var = zs.iter().map(|z| (z - mean) * (z - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
        let b: u32 = (0..1000).map(|_| r.binomial(10, 0.3)).sum();
        assert!((2800..3200).contains(&b), "{b}");
        let p: u32 = (0..2000).map(|_| r.poisson_small(0.5)).sum();
        assert!((900..1100).contains(&p), "{p}");
        assert!((0..1000).all(|_| r.below(7) < 7));
        assert_eq!(r.below(0), 0);
    }
}
