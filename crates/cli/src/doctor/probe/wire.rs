//! The probe's datagrams: a header (magic, version, kind, the sender's probe id) and a
//! small fixed body per kind. Decoding checks every field and the exact length, so a
//! datagram is never trusted beyond its size.

/// First bytes of every probe datagram.
pub const MAGIC: [u8; 4] = *b"ECDP";
/// The format's version; others are ignored.
pub const VERSION: u8 = 1;
/// Magic, version, kind, probe id.
pub const HEADER: usize = 4 + 1 + 1 + 8;
/// The datagram sizes tried, in bytes of UDP payload (the last fits IPv4 and IPv6).
pub const SIZES: [u32; 8] = [512, 1200, 1472, 4000, 8972, 16000, 32000, 65000];
/// The TTLs tried, 1 to this.
pub const MAX_TTL: u8 = 8;
/// The largest burst announced or accepted.
pub const MAX_BURST: u32 = 100_000;

/// What the peer got from us, as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    /// The probe id of the side the report is about (the receiver of the report).
    pub to: u64,
    /// Burst datagrams received.
    pub burst_got: u32,
    /// Burst datagrams announced.
    pub burst_total: u32,
    /// Bit i set: a datagram of `SIZES[i]` bytes arrived.
    pub sizes: u8,
    /// The smallest TTL that arrived, 0 for none.
    pub min_ttl: u8,
    /// The reporter has the other side's report already.
    pub got_yours: bool,
}

/// One probe datagram's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    /// "I am here", repeated all along.
    Hello,
    /// Datagram `seq` of a burst of `total`.
    Burst {
        /// 0-based position.
        seq: u32,
        /// Datagrams in the burst.
        total: u32,
    },
    /// A datagram of exactly `size` bytes.
    Size {
        /// Its length, one of [`SIZES`].
        size: u32,
    },
    /// Sent with this multicast TTL.
    Ttl {
        /// 1 to [`MAX_TTL`].
        ttl: u8,
    },
    /// The sender finished its burst of `total`.
    Done {
        /// Datagrams in the burst.
        total: u32,
    },
    /// What the sender got from the side `report.to`.
    Report(Report),
}

impl Msg {
    fn kind(&self) -> u8 {
        match self {
            Msg::Hello => 1,
            Msg::Burst { .. } => 2,
            Msg::Size { .. } => 3,
            Msg::Ttl { .. } => 4,
            Msg::Done { .. } => 5,
            Msg::Report(_) => 6,
        }
    }
}

/// The datagram carrying `msg` from probe `from`.
pub fn encode(from: u64, msg: &Msg) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(msg.kind());
    out.extend_from_slice(&from.to_be_bytes());
    match *msg {
        Msg::Hello => {}
        Msg::Burst { seq, total } => {
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&total.to_be_bytes());
        }
        Msg::Size { size } => {
            out.extend_from_slice(&size.to_be_bytes());
            out.resize((size as usize).max(out.len()), 0xEC);
        }
        Msg::Ttl { ttl } => out.push(ttl),
        Msg::Done { total } => out.extend_from_slice(&total.to_be_bytes()),
        Msg::Report(r) => {
            out.extend_from_slice(&r.to.to_be_bytes());
            out.extend_from_slice(&r.burst_got.to_be_bytes());
            out.extend_from_slice(&r.burst_total.to_be_bytes());
            out.extend_from_slice(&[r.sizes, r.min_ttl, u8::from(r.got_yours)]);
        }
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0; 8];
    a.copy_from_slice(s);
    Some(u64::from_be_bytes(a))
}

/// Reads a datagram: the sender's probe id and the message, or `None` for anything that is
/// not a well-formed probe datagram of this version.
pub fn decode(b: &[u8]) -> Option<(u64, Msg)> {
    if b.len() < HEADER || b[..4] != MAGIC || b[4] != VERSION {
        return None;
    }
    let from = u64_at(b, 6)?;
    let body = &b[HEADER..];
    let msg = match (b[5], body.len()) {
        (1, 0) => Msg::Hello,
        (2, 8) => {
            let (seq, total) = (u32_at(body, 0)?, u32_at(body, 4)?);
            (seq < total && total <= MAX_BURST).then_some(Msg::Burst { seq, total })?
        }
        (3, _) => {
            let size = u32_at(body, 0)?;
            (SIZES.contains(&size) && b.len() == size as usize).then_some(Msg::Size { size })?
        }
        (4, 1) => (1..=MAX_TTL).contains(&body[0]).then_some(Msg::Ttl { ttl: body[0] })?,
        (5, 4) => {
            let total = u32_at(body, 0)?;
            (total <= MAX_BURST).then_some(Msg::Done { total })?
        }
        (6, 19) => {
            let r = Report {
                to: u64_at(body, 0)?,
                burst_got: u32_at(body, 8)?,
                burst_total: u32_at(body, 12)?,
                sizes: body[16],
                min_ttl: body[17],
                got_yours: body[18] == 1,
            };
            let valid =
                r.burst_got <= r.burst_total && r.burst_total <= MAX_BURST && r.min_ttl <= MAX_TTL && body[18] <= 1;
            valid.then_some(Msg::Report(r))?
        }
        _ => return None,
    };
    Some((from, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        let report =
            Report { to: 7, burst_got: 990, burst_total: 1000, sizes: 0b0111_1111, min_ttl: 1, got_yours: true };
        for msg in [
            Msg::Hello,
            Msg::Burst { seq: 999, total: 1000 },
            Msg::Size { size: 512 },
            Msg::Size { size: 65000 },
            Msg::Ttl { ttl: 8 },
            Msg::Done { total: 1000 },
            Msg::Report(report),
        ] {
            let d = encode(0xfeed, &msg);
            assert_eq!(decode(&d), Some((0xfeed, msg)), "{msg:?}");
            if let Msg::Size { size } = msg {
                assert_eq!(d.len(), size as usize);
            }
            for cut in 0..d.len().min(40) {
                assert_eq!(decode(&d[..cut]), None, "{msg:?} cut at {cut}");
            }
            let mut longer = d.clone();
            longer.push(0);
            assert_eq!(decode(&longer), None);
        }
    }

    #[test]
    fn bad_fields_are_refused() {
        let bad = [
            encode(1, &Msg::Burst { seq: 5, total: 5 }),
            encode(1, &Msg::Burst { seq: 0, total: MAX_BURST + 1 }),
            encode(1, &Msg::Ttl { ttl: 0 }),
            encode(1, &Msg::Ttl { ttl: 9 }),
            encode(1, &Msg::Size { size: 513 }),
            encode(1, &Msg::Report(Report { burst_got: 2, burst_total: 1, ..Report::default() })),
        ];
        for d in bad {
            assert_eq!(decode(&d), None, "{d:?}");
        }
        let mut other_version = encode(1, &Msg::Hello);
        other_version[4] = 2;
        assert_eq!(decode(&other_version), None);
        let mut other_magic = encode(1, &Msg::Hello);
        other_magic[0] = b'X';
        assert_eq!(decode(&other_magic), None);
        let mut kind = encode(1, &Msg::Hello);
        kind[5] = 99;
        assert_eq!(decode(&kind), None);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..200 {
            let mut d = MAGIC.to_vec();
            d.push(VERSION);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                d.push(x as u8);
            }
            let _ = decode(&d);
        }
    }
}
