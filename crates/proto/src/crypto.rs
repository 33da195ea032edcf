//! Authenticated encryption of whole datagrams (AES-GCM), keys from passphrases (Argon2id)
//! or raw bytes, and a keyring of several keys for rotation without downtime.
//!
//! A sealed datagram (`docs/PROTOCOL.md`, "Sealed body") is the 4-byte prefix with `SEALED`
//! set, a key id, a 96-bit nonce, the ciphertext of everything a plaintext datagram carries
//! after its prefix (sender id and frames), and a 16-byte tag. The prefix, key id and nonce
//! are the associated data, so every byte on the wire is authenticated.

use std::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};

use super::wire::{FLAG_SEALED, PREFIX_LEN, field};

/// Offset of the key id in a sealed datagram.
pub const KEY_ID: usize = PREFIX_LEN;
/// Offset of the nonce.
pub const NONCE: usize = KEY_ID + 1;
/// Nonce length.
pub const NONCE_LEN: usize = 12;
/// Offset of the ciphertext.
pub const CIPHERTEXT: usize = NONCE + NONCE_LEN;
/// Tag length.
pub const TAG_LEN: usize = 16;
/// Length of the send time (milliseconds since the Unix epoch) sealed after the sender id.
pub const SENT_AT_LEN: usize = 8;
/// Bytes sealing adds to a plaintext datagram.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + SENT_AT_LEN + TAG_LEN;
/// The salt of passphrase-derived keys. It is fixed and public so that every instance given
/// the same passphrase derives the same key without exchanging anything; Argon2id's memory
/// cost, not the salt, is what slows guessing.
pub const PASSPHRASE_SALT: &[u8] = b"eventcast/v1 passphrase key";

/// Why a key cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// A raw key that is neither 16 nor 32 bytes.
    Length(usize),
    /// An empty passphrase.
    EmptyPassphrase,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Length(n) => write!(f, "a raw key is {n} bytes; use 16 (AES-128) or 32 (AES-256)"),
            KeyError::EmptyPassphrase => f.write_str("the passphrase is empty"),
        }
    }
}

#[derive(Clone)]
enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

/// One key: an id (carried in each sealed datagram) and an AES-GCM cipher. Its `Debug`
/// shows the id and size, never the key.
#[derive(Clone)]
pub struct Key {
    id: u8,
    cipher: Cipher,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = match self.cipher {
            Cipher::Aes128(_) => 128,
            Cipher::Aes256(_) => 256,
        };
        write!(f, "Key {{ id: {}, aes: {bits} }}", self.id)
    }
}

impl Key {
    /// A key from 16 (AES-128) or 32 (AES-256) raw bytes.
    ///
    /// ```
    /// use eventcast_proto::crypto::Key;
    /// assert!(Key::from_bytes(1, &[7; 16]).is_ok());
    /// assert!(Key::from_bytes(1, &[7; 20]).is_err());
    /// ```
    pub fn from_bytes(id: u8, bytes: &[u8]) -> Result<Self, KeyError> {
        let cipher = match bytes.len() {
            16 => Cipher::Aes128(Box::new(Aes128Gcm::new_from_slice(bytes).map_err(|_| KeyError::Length(16))?)),
            32 => Cipher::Aes256(Box::new(Aes256Gcm::new_from_slice(bytes).map_err(|_| KeyError::Length(32))?)),
            n => return Err(KeyError::Length(n)),
        };
        Ok(Key { id, cipher })
    }

    /// An AES-128 key derived from a passphrase with Argon2id (19 MiB, 2 passes, one lane —
    /// OWASP's minimum) and [`PASSPHRASE_SALT`]. Takes tens of milliseconds, by design.
    pub fn from_passphrase(id: u8, passphrase: &str) -> Result<Self, KeyError> {
        if passphrase.is_empty() {
            return Err(KeyError::EmptyPassphrase);
        }
        let params = argon2::Params::new(19 * 1024, 2, 1, Some(16)).map_err(|_| KeyError::Length(16))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut raw = [0u8; 16];
        argon.hash_password_into(passphrase.as_bytes(), PASSPHRASE_SALT, &mut raw).map_err(|_| KeyError::Length(16))?;
        let key = Self::from_bytes(id, &raw);
        zeroize::Zeroize::zeroize(&mut raw);
        key
    }

    /// The key id.
    pub fn id(&self) -> u8 {
        self.id
    }

    fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buffer: &mut [u8]) -> [u8; TAG_LEN] {
        let nonce = Nonce::from(*nonce);
        let tag: Result<Tag, _> = match &self.cipher {
            Cipher::Aes128(c) => c.encrypt_inout_detached(&nonce, aad, buffer.into()),
            Cipher::Aes256(c) => c.encrypt_inout_detached(&nonce, aad, buffer.into()),
        };
        // Encryption fails only for inputs beyond GCM's 64 GiB limit, far above a datagram.
        tag.map(Into::into).unwrap_or([0; TAG_LEN])
    }

    fn open_in_place(&self, nonce: &[u8], aad: &[u8], buffer: &mut [u8], tag: &[u8]) -> bool {
        let (Ok(nonce), Ok(tag)) = (<[u8; NONCE_LEN]>::try_from(nonce), <[u8; TAG_LEN]>::try_from(tag)) else {
            return false;
        };
        let (nonce, tag) = (Nonce::from(nonce), Tag::from(tag));
        match &self.cipher {
            Cipher::Aes128(c) => c.decrypt_inout_detached(&nonce, aad, buffer.into(), &tag).is_ok(),
            Cipher::Aes256(c) => c.decrypt_inout_detached(&nonce, aad, buffer.into(), &tag).is_ok(),
        }
    }
}

/// A sealed datagram, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The plaintext datagram it carried: prefix with `SEALED` cleared, sender id, frames.
    pub plain: Vec<u8>,
    /// When the sender sealed it, in milliseconds since the Unix epoch (its clock).
    pub sent_at_ms: u64,
}

/// Why a sealed datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Shorter than a sealed header and tag.
    Malformed,
    /// Sealed under a key id this keyring does not hold.
    UnknownKey(u8),
    /// The tag does not match: forged, tampered with, or another key under the same id.
    Forged,
}

/// Keys in use: one encrypts (the primary), all decrypt. Rotation without downtime, as
/// memberlist and Serf do it: install the new key everywhere, then make it primary
/// everywhere, then remove the old one.
///
/// ```
/// use eventcast_proto::crypto::{Key, Keyring};
/// let mut ring = Keyring::new(Key::from_bytes(1, &[1; 16]).unwrap());
/// ring.install(Key::from_bytes(2, &[2; 32]).unwrap());
/// ring.use_key(2).unwrap();
/// ring.remove(1).unwrap();
/// assert_eq!(ring.ids(), vec![2]);
/// assert_eq!(ring.primary(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<Key>,
    primary: u8,
}

/// Why a keyring change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringError {
    /// No key with this id is installed.
    NoSuchKey(u8),
    /// The primary key cannot be removed; make another key primary first.
    RemovingPrimary(u8),
}

impl KeyringError {
    /// The key id concerned.
    pub fn id(&self) -> u8 {
        match self {
            KeyringError::NoSuchKey(id) | KeyringError::RemovingPrimary(id) => *id,
        }
    }
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyringError::NoSuchKey(id) => write!(f, "no key with id {id} is installed"),
            KeyringError::RemovingPrimary(id) => {
                write!(f, "key {id} encrypts what this instance sends; make another key primary before removing it")
            }
        }
    }
}

impl Keyring {
    /// A keyring holding `primary`.
    pub fn new(primary: Key) -> Self {
        Keyring { primary: primary.id, keys: vec![primary] }
    }

    /// Adds a key for decryption, replacing one with the same id.
    pub fn install(&mut self, key: Key) {
        self.keys.retain(|k| k.id != key.id);
        self.keys.push(key);
    }

    /// Makes an installed key the one that encrypts.
    pub fn use_key(&mut self, id: u8) -> Result<(), KeyringError> {
        if !self.keys.iter().any(|k| k.id == id) {
            return Err(KeyringError::NoSuchKey(id));
        }
        self.primary = id;
        Ok(())
    }

    /// Removes a key that is not the primary one.
    pub fn remove(&mut self, id: u8) -> Result<(), KeyringError> {
        if id == self.primary {
            return Err(KeyringError::RemovingPrimary(id));
        }
        let before = self.keys.len();
        self.keys.retain(|k| k.id != id);
        if self.keys.len() == before { Err(KeyringError::NoSuchKey(id)) } else { Ok(()) }
    }

    /// The installed key ids, in order.
    pub fn ids(&self) -> Vec<u8> {
        let mut ids: Vec<u8> = self.keys.iter().map(|k| k.id).collect();
        ids.sort_unstable();
        ids
    }

    /// The id of the key that encrypts.
    pub fn primary(&self) -> u8 {
        self.primary
    }

    fn key(&self, id: u8) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Seals a plaintext datagram (prefix, sender id, frames) under the primary key and
    /// `nonce`, which must never repeat under that key, with the send time `sent_at_ms`
    /// (milliseconds since the Unix epoch) sealed after the sender id.
    pub fn seal(&self, plain: &[u8], nonce: [u8; NONCE_LEN], sent_at_ms: u64) -> Vec<u8> {
        let Some(key) = self.key(self.primary) else { return Vec::new() };
        if plain.len() < field::FRAMES {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
        out.extend_from_slice(&plain[..PREFIX_LEN]);
        out[field::FLAGS] |= FLAG_SEALED;
        out.push(key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plain[field::SENDER]);
        out.extend_from_slice(&sent_at_ms.to_be_bytes());
        out.extend_from_slice(&plain[field::FRAMES..]);
        let (aad, rest) = out.split_at_mut(CIPHERTEXT);
        let tag = key.seal_in_place(&nonce, aad, rest);
        out.extend_from_slice(&tag);
        out
    }

    /// Opens a sealed datagram.
    pub fn open(&self, sealed: &[u8]) -> Result<Opened, OpenError> {
        if sealed.len() < CIPHERTEXT + 8 + SENT_AT_LEN + TAG_LEN {
            return Err(OpenError::Malformed);
        }
        let id = sealed[KEY_ID];
        let key = self.key(id).ok_or(OpenError::UnknownKey(id))?;
        let (aad, rest) = sealed.split_at(CIPHERTEXT);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        // One buffer: prefix, then the ciphertext decrypted in place, then the send time cut out.
        let mut plain = Vec::with_capacity(PREFIX_LEN + ciphertext.len());
        plain.extend_from_slice(&sealed[..PREFIX_LEN]);
        plain[field::FLAGS] &= !FLAG_SEALED;
        plain.extend_from_slice(ciphertext);
        if !key.open_in_place(&aad[NONCE..CIPHERTEXT], aad, &mut plain[PREFIX_LEN..], tag) {
            return Err(OpenError::Forged);
        }
        let mut sent_at = [0u8; SENT_AT_LEN];
        sent_at.copy_from_slice(&plain[field::FRAMES..field::FRAMES + SENT_AT_LEN]);
        plain.drain(field::FRAMES..field::FRAMES + SENT_AT_LEN);
        let sent_at_ms = u64::from_be_bytes(sent_at);
        Ok(Opened { plain, sent_at_ms })
    }
}

/// Nonces for one sender's run: a random 96-bit base drawn at start plus a packet counter,
/// so no nonce repeats within the run, and runs collide only if two random bases land
/// within one run's packet count of each other (about 2^-50 for a million runs of 2^32
/// packets each under one key).
#[derive(Debug, Clone)]
pub struct NonceSequence {
    base: u128,
    counter: u64,
}

impl NonceSequence {
    /// Starts at a random `base` (only the low 96 bits are used).
    pub fn new(base: u128) -> Self {
        NonceSequence { base, counter: 0 }
    }

    /// The next nonce.
    pub fn next_nonce(&mut self) -> [u8; NONCE_LEN] {
        let n = self.base.wrapping_add(u128::from(self.counter));
        self.counter += 1;
        let mut out = [0u8; NONCE_LEN];
        out.copy_from_slice(&n.to_be_bytes()[4..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Datagram;

    fn plain_datagram() -> Vec<u8> {
        let mut d = Vec::new();
        Datagram::emit_header(&mut d, 42);
        d.extend_from_slice(b"\x01\x00\x00\x09frames!!!");
        d
    }

    /// NIST GCM test vector (gcmEncryptExtIV128, Count 0 with 128-bit plaintext): key,
    /// IV and plaintext all zero.
    #[test]
    fn known_answer_aes128_gcm() {
        let key = Key::from_bytes(0, &[0; 16]).unwrap();
        let mut buf = [0u8; 16];
        let tag = key.seal_in_place(&[0; 12], b"", &mut buf);
        assert_eq!(hex::encode(buf), "0388dace60b6a392f328c2b971b2fe78");
        assert_eq!(hex::encode(tag), "ab6e47d42cec13bdf53a67b21257bddf");
    }

    /// NIST GCM test vector with a 256-bit all-zero key, IV and 16-byte plaintext.
    #[test]
    fn known_answer_aes256_gcm() {
        let key = Key::from_bytes(0, &[0; 32]).unwrap();
        let mut buf = [0u8; 16];
        let tag = key.seal_in_place(&[0; 12], b"", &mut buf);
        assert_eq!(hex::encode(buf), "cea7403d4d606b6e074ec5d3baf39d18");
        assert_eq!(hex::encode(tag), "d0d1c8a799996bf0265b98b5d48ab919");
    }

    #[test]
    fn seal_open_roundtrip_and_nothing_readable() {
        let ring = Keyring::new(Key::from_bytes(3, &[9; 16]).unwrap());
        let plain = plain_datagram();
        let sealed = ring.seal(&plain, NonceSequence::new(7).next_nonce(), 1_700_000_000_000);
        assert_eq!(sealed.len(), plain.len() + SEAL_OVERHEAD);
        assert!(!sealed.windows(6).any(|w| w == b"frames"), "frames are encrypted");
        assert!(!sealed.windows(8).any(|w| w == 42u64.to_be_bytes()), "sender id is encrypted");
        let opened = ring.open(&sealed).unwrap();
        assert_eq!((opened.plain, opened.sent_at_ms), (plain, 1_700_000_000_000));
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let ring = Keyring::new(Key::from_bytes(3, &[9; 16]).unwrap());
        let sealed = ring.seal(&plain_datagram(), [1; 12], 5);
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut bad = sealed.clone();
                bad[i] ^= 1 << bit;
                assert!(ring.open(&bad).is_err(), "byte {i} bit {bit}");
            }
        }
        assert_eq!(ring.open(&sealed[..20]), Err(OpenError::Malformed));
    }

    #[test]
    fn wrong_key_and_unknown_key_are_refused() {
        let ring = Keyring::new(Key::from_bytes(1, &[1; 16]).unwrap());
        let other = Keyring::new(Key::from_bytes(1, &[2; 16]).unwrap());
        let stranger = Keyring::new(Key::from_bytes(9, &[1; 16]).unwrap());
        let sealed = ring.seal(&plain_datagram(), [0; 12], 5);
        assert_eq!(other.open(&sealed), Err(OpenError::Forged));
        assert_eq!(stranger.open(&sealed), Err(OpenError::UnknownKey(1)));
    }

    #[test]
    fn rotation_keeps_old_traffic_readable_until_removed() {
        let old = Key::from_bytes(1, &[1; 16]).unwrap();
        let new = Key::from_bytes(2, &[2; 32]).unwrap();
        let mut a = Keyring::new(old.clone());
        let mut b = Keyring::new(old);
        b.install(new.clone());
        b.use_key(2).unwrap();
        let from_b = b.seal(&plain_datagram(), [5; 12], 5);
        assert_eq!(a.open(&from_b), Err(OpenError::UnknownKey(2)), "a has not installed the new key yet");
        a.install(new);
        assert!(a.open(&from_b).is_ok());
        let from_a = a.seal(&plain_datagram(), [6; 12], 5);
        assert!(b.open(&from_a).is_ok(), "b still reads the old key");
        assert_eq!(b.remove(2), Err(KeyringError::RemovingPrimary(2)));
        b.remove(1).unwrap();
        assert_eq!(b.open(&from_a), Err(OpenError::UnknownKey(1)));
        assert_eq!(b.use_key(1), Err(KeyringError::NoSuchKey(1)));
    }

    #[test]
    fn passphrase_keys_agree_and_differ() {
        let a = Keyring::new(Key::from_passphrase(1, "correct horse").unwrap());
        let b = Keyring::new(Key::from_passphrase(1, "correct horse").unwrap());
        let c = Keyring::new(Key::from_passphrase(1, "battery staple").unwrap());
        let sealed = a.seal(&plain_datagram(), [3; 12], 5);
        assert!(b.open(&sealed).is_ok());
        assert_eq!(c.open(&sealed), Err(OpenError::Forged));
        assert_eq!(Key::from_passphrase(1, "").unwrap_err(), KeyError::EmptyPassphrase);
        assert!(!format!("{:?}", a).contains("correct"));
    }

    proptest::proptest! {
        /// The keyring agrees with a model (a map of ids and a primary) under any sequence
        /// of install / use / remove.
        #[test]
        fn keyring_matches_a_model(ops in proptest::collection::vec((0u8..3, 0u8..6), 0..60)) {
            use std::collections::BTreeSet;
            let mut ring = Keyring::new(Key::from_bytes(0, &[0; 16]).unwrap());
            let (mut ids, mut primary) = (BTreeSet::from([0u8]), 0u8);
            for (op, id) in ops {
                match op {
                    0 => { ring.install(Key::from_bytes(id, &[id; 16]).unwrap()); ids.insert(id); }
                    1 => {
                        let ok = ids.contains(&id);
                        proptest::prop_assert_eq!(ring.use_key(id).is_ok(), ok);
                        if ok { primary = id; }
                    }
                    _ => {
                        let ok = ids.contains(&id) && id != primary;
                        proptest::prop_assert_eq!(ring.remove(id).is_ok(), ok);
                        if ok { ids.remove(&id); }
                    }
                }
                proptest::prop_assert_eq!(ring.ids(), ids.iter().copied().collect::<Vec<_>>());
                proptest::prop_assert_eq!(ring.primary(), primary);
                // what it seals, it opens
                let sealed = ring.seal(&plain_datagram(), [id; 12], 1);
                proptest::prop_assert!(ring.open(&sealed).is_ok());
            }
        }
    }

    #[test]
    fn nonces_never_repeat_within_a_run() {
        let mut seq = NonceSequence::new(u128::MAX - 2);
        let n: Vec<_> = (0..1000).map(|_| seq.next_nonce()).collect();
        let mut sorted = n.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1000);
    }
}
