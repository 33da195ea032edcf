//! Sequence numbers with a stated range and defined arithmetic at its edges.
//!
//! A sender's reliable (and, separately, best-effort) sequence starts at 0 and counts up by
//! one per event. The wire carries 64 bits, but a valid sequence is below 2^63
//! ([`Seq::LIMIT`]): at a million events a second a sender would need 292,000 years to get
//! there, and the headroom means that no sum the protocol forms (a sequence plus a window,
//! a jump or one) can overflow a `u64`. Frames naming a sequence at or beyond the limit are
//! refused by the wire parser ([`super::wire::WireError::OutOfRange`]), so the core only
//! ever sees values of this type.

use std::fmt;

/// A sequence number, `0 ≤ seq < 2^63`.
///
/// ```
/// use eventcast_proto::seq::Seq;
/// assert_eq!(Seq::new(5).map(Seq::get), Some(5));
/// assert_eq!(Seq::new(u64::MAX), None);
/// assert_eq!(Seq::new(Seq::LIMIT - 1).unwrap().next(), Seq::MAX);
/// assert_eq!(Seq::ZERO.saturating_add(u64::MAX), Seq::MAX);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(u64);

impl Seq {
    /// One past the largest valid sequence: 2^63.
    pub const LIMIT: u64 = 1 << 63;
    /// The first sequence of every stream.
    pub const ZERO: Seq = Seq(0);
    /// The largest valid sequence.
    pub const MAX: Seq = Seq(Self::LIMIT - 1);

    /// `value` as a sequence, or `None` when it is 2^63 or more.
    pub const fn new(value: u64) -> Option<Seq> {
        if value < Self::LIMIT { Some(Seq(value)) } else { None }
    }

    /// The number itself.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The sequence after this one; [`Seq::MAX`] stays [`Seq::MAX`] (a sender refuses to
    /// emit past it long before, see `Outgoing::send`).
    pub const fn next(self) -> Seq {
        self.saturating_add(1)
    }

    /// `self + n`, clamped to [`Seq::MAX`].
    pub const fn saturating_add(self, n: u64) -> Seq {
        let sum = self.0.saturating_add(n);
        if sum < Self::LIMIT { Seq(sum) } else { Self::MAX }
    }

    /// `self − n`, clamped to 0.
    pub const fn saturating_sub(self, n: u64) -> Seq {
        Seq(self.0.saturating_sub(n))
    }

    /// How far `self` is ahead of `earlier` (0 when it is not).
    pub const fn distance_from(self, earlier: Seq) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Seq> for u64 {
    fn from(s: Seq) -> u64 {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges() {
        for v in [0, 1, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, (1 << 63) - 1] {
            assert_eq!(Seq::new(v).map(Seq::get), Some(v));
        }
        for v in [1 << 63, u64::MAX] {
            assert_eq!(Seq::new(v), None);
        }
        assert_eq!(Seq::MAX.next(), Seq::MAX);
        assert_eq!(Seq::MAX.saturating_add(1 << 62), Seq::MAX);
        assert_eq!(Seq::ZERO.saturating_sub(1), Seq::ZERO);
        assert_eq!(Seq::ZERO.distance_from(Seq::MAX), 0);
        assert_eq!(Seq::MAX.distance_from(Seq::ZERO), (1 << 63) - 1);
    }
}
