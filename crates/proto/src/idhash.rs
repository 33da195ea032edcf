//! A fast keyed hash for maps keyed by sender id, looked up several times per received
//! frame: std's SipHash was an eighth of the receiver's time. One 64×64→128-bit multiply
//! of the id mixed with a random per-instance key. Sender ids are random, and someone who
//! mints ids to collide does not know the key; the tables are bounded by `max_senders`
//! anyway, so the worst case is a slower lookup, never unbounded memory.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A `HashMap` keyed by sender id.
pub(crate) type IdMap<V> = HashMap<u64, V, IdHash>;

/// Builds [`IdHasher`]s with one random key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdHash(u64);

impl IdHash {
    pub fn new(key: u64) -> Self {
        IdHash(key)
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher { key: self.0, state: 0 }
    }
}

/// See the module documentation.
pub(crate) struct IdHasher {
    key: u64,
    state: u64,
}

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15; // 2^64 / golden ratio, odd

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by u64 keys; correct for anything else, just not tuned.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let product = u128::from(n ^ self.key ^ self.state.rotate_left(23)) * u128::from(MULTIPLIER);
        self.state = (product >> 64) as u64 ^ product as u64;
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_spread_over_high_and_low_bits() {
        let h = IdHash::new(0x1234_5678);
        let hashes: Vec<u64> = (0..4096u64).map(|i| h.hash_one(i)).collect();
        // low bits pick the bucket, the top 7 the tag: both must vary
        let low: std::collections::HashSet<u64> = hashes.iter().map(|x| x & 0xfff).collect();
        let top: std::collections::HashSet<u64> = hashes.iter().map(|x| x >> 57).collect();
        assert!(low.len() > 2500, "{}", low.len());
        assert_eq!(top.len(), 128);
        assert_ne!(IdHash::new(1).hash_one(7u64), IdHash::new(2).hash_one(7u64), "keyed");
        let mut map: IdMap<u32> = IdMap::with_hasher(h);
        map.insert(5, 1);
        assert_eq!(map.get(&5), Some(&1));
    }
}
