//! CUBIC window growth (RFC 9438), integer-only, with the Reno-friendly region (§4.3) so
//! that on short-RTT paths it grows at least as fast as Reno would.

/// CUBIC state of one connection.
#[derive(Debug, Default, Clone)]
pub(crate) struct Cubic {
    pub(crate) enabled: bool,
    epoch_valid: bool,
    /// Window before the last reduction, bytes (W_max).
    w_max: u32,
    /// Start of the current congestion-avoidance epoch, ms.
    epoch_ms: u32,
    /// Time to reach W_max again, ms (K).
    k_ms: u32,
    /// Reno-friendly estimate of the window, bytes (W_est, §4.3).
    w_est: u32,
}

/// Integer cube root (largest r with r³ ≤ x), by bisection.
fn icbrt(x: u64) -> u64 {
    let (mut lo, mut hi) = (0u64, 2_097_152u64); // 2^21: (2^21)^3 = 2^63
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if mid * mid * mid <= x {
            lo = mid
        } else {
            hi = mid - 1
        }
    }
    lo
}

impl Cubic {
    /// A loss: remember W_max (with fast convergence, §4.7) and return ssthresh = β·cwnd,
    /// β = 0.7 (§4.6).
    pub(crate) fn on_loss(&mut self, cwnd: u32, mss: u32) -> u32 {
        self.w_max = if cwnd < self.w_max {
            (cwnd as u64 * 17 / 20) as u32
        } else {
            cwnd
        };
        self.epoch_valid = false;
        ((cwnd as u64 * 7 / 10) as u32).max(2 * mss)
    }

    /// Congestion avoidance on an ACK of `acked` bytes (§4.2): move toward
    /// W_cubic(t + RTT) = C·(t + RTT − K)³ + W_max, C = 0.4 segments/s³.
    pub(crate) fn on_ack(
        &mut self,
        now: u32,
        cwnd: u32,
        mss: u32,
        acked: u32,
        srtt_ms: u32,
    ) -> u32 {
        let mss = mss.max(1);
        if !self.epoch_valid {
            self.epoch_valid = true;
            self.epoch_ms = now;
            if self.w_max < cwnd {
                self.w_max = cwnd;
            }
            // K = ∛((W_max − cwnd)/C) seconds, in segments (eq. 2); ms: ∛(Δ/0.4 · 10⁹).
            let d = u64::from((self.w_max - cwnd) / mss);
            self.k_ms = icbrt(d * 2_500_000_000) as u32;
            self.w_est = cwnd;
        }
        // §4.3: W_est += α·acked/cwnd segments, α = 3(1 − β)/(1 + β) ≈ 0.529 for β = 0.7.
        let inc = u64::from(acked) * u64::from(mss) * 529 / 1000 / u64::from(cwnd.max(1));
        self.w_est = self.w_est.saturating_add(inc.max(1) as u32);
        let t = i64::from(now.wrapping_sub(self.epoch_ms).wrapping_add(srtt_ms)).min(100_000);
        let d = (t - i64::from(self.k_ms)).clamp(-100_000, 100_000);
        // 0.4·d³/10⁹ segments.
        let delta = d * d * d / 1_000_000 * 4 / 10_000;
        let cubic = i64::from(self.w_max) + delta * i64::from(mss);
        if i64::from(self.w_est) > cubic && self.w_est > cwnd {
            // Reno-friendly region: follow the Reno estimate.
            return self.w_est;
        }
        let target = cubic.clamp(i64::from(cwnd), i64::from(cwnd) * 3 / 2);
        let grow =
            ((target - i64::from(cwnd)) as u64 * u64::from(acked) / u64::from(cwnd.max(1))) as u32;
        cwnd.saturating_add(grow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cube_root() {
        assert_eq!(icbrt(0), 0);
        assert_eq!(icbrt(26), 2);
        assert_eq!(icbrt(27), 3);
        assert_eq!(icbrt(1_000_000_000), 1000);
    }

    #[test]
    fn regrows_to_w_max_around_k() {
        let mut c = Cubic {
            enabled: true,
            ..Cubic::default()
        };
        let mss = 1000;
        let ss = c.on_loss(100_000, mss);
        assert_eq!(ss, 70_000);
        // K = ∛(30 segments / 0.4) ≈ 4.22 s.
        let mut cwnd = ss;
        let mut now = 0;
        c.on_ack(now, cwnd, mss, 0, 0);
        assert!((4200..4250).contains(&c.k_ms), "K = {}", c.k_ms);
        while now < 4_220 {
            cwnd = c.on_ack(now, cwnd, mss, cwnd / 10, 0);
            now += 10;
        }
        assert!((95_000..=100_000).contains(&cwnd), "cwnd at K = {cwnd}");
        while now < 8_000 {
            cwnd = c.on_ack(now, cwnd, mss, cwnd / 10, 0);
            now += 10;
        }
        assert!(cwnd > 110_000, "convex growth past W_max: {cwnd}");
    }
}
