//! A small seeded pseudorandom generator, so every simulation run is
//! reproducible from its seed.
//!
//! The generator is xoshiro256** (Blackman and Vigna, "Scrambled Linear
//! Pseudorandom Number Generators", ACM TOMS 47(4), 2021, §4), with its state
//! filled from the seed by SplitMix64 (Steele, Lea and Flood, "Fast Splittable
//! Pseudorandom Number Generators", OOPSLA 2014), the seeding the xoshiro
//! paper recommends.

/// One SplitMix64 step: advances `state` and returns the next output.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    // Constants from Steele, Lea and Flood 2014 (the golden-ratio increment
    // and the two finaliser multipliers of MurmurHash3's variant 13).
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xoshiro256**: 256 bits of state, period 2^256 − 1.
#[derive(Debug, Clone)]
pub(crate) struct Xoshiro256StarStar {
    s: [u64; 4],
}

impl Xoshiro256StarStar {
    /// A generator whose state SplitMix64 derives from `seed`; never all zero
    /// because SplitMix64 is a bijection of distinct successive states.
    pub(crate) fn seed_from_u64(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self { s }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform value in `[0, 1)` from the top 53 bits (the paper's §5.1
    /// conversion to double).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform value in `0..=max` (Lemire's multiply-shift; the bias for
    /// the small ranges a simulation uses is below 2^-32 and irrelevant here).
    pub(crate) fn below_or_equal(&mut self, max: u64) -> u64 {
        if max == u64::MAX {
            return self.next_u64();
        }
        ((u128::from(self.next_u64()) * u128::from(max + 1)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // Reference outputs of SplitMix64 seeded with 1234567, from the
        // public-domain C implementation accompanying the xoshiro paper
        // (splitmix64.c), widely reproduced as a test vector.
        let mut s = 1_234_567u64;
        let expected = [
            6_457_827_717_110_365_317u64,
            3_203_168_211_198_807_973,
            9_817_491_932_198_370_423,
            4_593_380_528_125_082_431,
            16_408_922_859_458_223_821,
        ];
        for e in expected {
            assert_eq!(splitmix64(&mut s), e);
        }
    }

    #[test]
    fn xoshiro_matches_the_reference_sequence() {
        // xoshiro256** from state {1, 2, 3, 4}: outputs of the reference C
        // implementation (xoshiro256starstar.c by Blackman and Vigna).
        let mut g = Xoshiro256StarStar { s: [1, 2, 3, 4] };
        let expected = [11_520u64, 0, 1_509_978_240, 1_215_971_899_390_074_240];
        for e in expected {
            assert_eq!(g.next_u64(), e);
        }
    }

    #[test]
    fn xoshiro_is_deterministic_and_spread() {
        let mut a = Xoshiro256StarStar::seed_from_u64(7);
        let mut b = Xoshiro256StarStar::seed_from_u64(7);
        let mut c = Xoshiro256StarStar::seed_from_u64(8);
        let va: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        let vc: Vec<u64> = (0..16).map(|_| c.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
        let mean = (0..100_000).map(|_| a.next_f64()).sum::<f64>() / 100_000.0;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        for _ in 0..1000 {
            assert!(a.below_or_equal(9) <= 9);
        }
        assert_eq!(a.below_or_equal(0), 0);
    }
}
