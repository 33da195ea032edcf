//! How many nodes share the group: the estimate that scales NACK backoff with the group.
//!
//! Every datagram names its sender; counting the distinct names heard tells how many nodes
//! could be missing the same datagram as we are. The count is a linear-counting sketch
//! ([`BITS`] bits, 512 bytes, whatever the traffic), restarted every [`EPOCH`] and kept at
//! the larger of the current and the last epoch's estimate so that it does not drop to zero
//! at each restart. Forged names can only raise it to the sketch's ceiling (about 34,000),
//! which makes this receiver's NACKs later within the same bounded window, never absent.
//!
//! With `n` nodes, NACK delays follow NORM's truncated exponential (RFC 5740, after
//! Nonnenmacher and Biersack): most receivers draw late times and few draw early ones, so
//! the first NACK, overheard by all, suppresses nearly all the others, and the NACKs per
//! loss stay about constant as the group grows.

use std::time::{Duration, Instant};

/// Bits of the sketch.
pub const BITS: usize = 4096;
/// The sketch restarts this often (nodes that left stop counting after two epochs).
pub const EPOCH: Duration = Duration::from_secs(30);

/// See the module documentation.
pub struct GroupEstimate {
    bits: [u64; BITS / 64],
    seed: u64,
    epoch_began: Option<Instant>,
    previous: f64,
}

impl GroupEstimate {
    /// An empty estimate; `seed` keys the hash (a sender cannot aim ids at one bit).
    pub fn new(seed: u64) -> Self {
        GroupEstimate { bits: [0; BITS / 64], seed: seed | 1, epoch_began: None, previous: 0.0 }
    }

    /// A datagram from node `id` arrived at `now`.
    pub fn observe(&mut self, now: Instant, id: u64) {
        let began = *self.epoch_began.get_or_insert(now);
        if now.saturating_duration_since(began) >= EPOCH {
            self.previous = self.current();
            self.bits = [0; BITS / 64];
            self.epoch_began = Some(now);
        }
        let bit = (mix(id ^ self.seed) % BITS as u64) as usize;
        self.bits[bit / 64] |= 1 << (bit % 64);
    }

    /// Distinct nodes heard in this epoch, by linear counting.
    fn current(&self) -> f64 {
        let set: u32 = self.bits.iter().map(|w| w.count_ones()).sum();
        let zero = (BITS as u32 - set).max(1) as f64;
        BITS as f64 * (BITS as f64 / zero).ln()
    }

    /// Other nodes in the group, at least 0.
    pub fn others(&self) -> f64 {
        self.current().max(self.previous)
    }

    /// A NACK backoff in `[0, window]` for a uniform `x` in `[0, 1)`: the inverse of a
    /// truncated exponential whose rate grows with the log of the group's size (the group
    /// is the other nodes and this one).
    pub fn backoff(&self, window: Duration, x: f64) -> Duration {
        let lambda = (self.others() + 1.0).ln() + 1.0;
        let x = if x.is_finite() { x.clamp(0.0, 1.0) } else { 0.0 };
        let fraction = (1.0 + x * (lambda.exp() - 1.0)).ln() / lambda;
        window.mul_f64(if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 1.0 })
    }
}

/// A 64-bit finalizer (splitmix64's): every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(n: u64) -> GroupEstimate {
        let mut g = GroupEstimate::new(42);
        let now = Instant::now();
        for id in 0..n {
            g.observe(now, id.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
        g
    }

    #[test]
    fn counts_distinct_nodes_within_a_few_percent() {
        for n in [0u64, 1, 10, 100, 1000, 5000] {
            let got = with(n).others();
            let err = (got - n as f64).abs() / (n.max(1) as f64);
            assert!(err < 0.1, "{n} nodes estimated as {got}");
        }
        let mut g = with(10);
        let now = Instant::now();
        for _ in 0..1000 {
            g.observe(now, 3u64.wrapping_mul(0x9e37_79b9_7f4a_7c15)); // one of the ten, again: counts once
        }
        assert!((g.others() - 10.0).abs() < 1.0);
    }

    #[test]
    fn forged_ids_reach_a_ceiling_and_the_backoff_stays_in_its_window() {
        let g = with(1_000_000);
        assert!(g.others() < 40_000.0 && g.others() > 30_000.0, "{}", g.others());
        let window = Duration::from_millis(2);
        for x in [0.0, 0.5, 0.999_999, 1.0, -3.0, 7.0, f64::NAN] {
            assert!(g.backoff(window, x) <= window, "{x}");
        }
    }

    #[test]
    fn the_estimate_survives_one_epoch_and_forgets_after_two() {
        let mut g = with(100);
        let t0 = Instant::now();
        g.observe(t0 + EPOCH, 1);
        assert!(g.others() > 90.0, "the last epoch's count is kept: {}", g.others());
        g.observe(t0 + EPOCH * 2, 1);
        assert!(g.others() < 3.0, "{}", g.others());
    }

    #[test]
    fn larger_groups_draw_later_backoffs() {
        let window = Duration::from_millis(2);
        let mean = |g: &GroupEstimate| {
            (0..1000).map(|i| g.backoff(window, i as f64 / 1000.0).as_secs_f64()).sum::<f64>() / 1000.0
        };
        let (alone, big) = (mean(&with(0)), mean(&with(1000)));
        assert!(alone < big, "{alone} vs {big}");
        // with 1,001 nodes, the earliest tenth of one percent of draws is very early, the rest late
        assert!(with(1000).backoff(window, 0.001) < window / 5);
        assert!(with(1000).backoff(window, 0.5) > window * 8 / 10);
    }
}
