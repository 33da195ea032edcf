//! Datagram and frame layout of wire protocol v1 (`docs/PROTOCOL.md`).
//!
//! Reading goes through checked views ([`Datagram::new_checked`], [`Frames`]) that never
//! index past the buffer; writing goes through representations ([`FrameRepr::emit`]) that know
//! their own length. No function here panics on any input.

use std::fmt;

use super::seq::Seq;

/// The two bytes every eventcast datagram starts with.
pub const MAGIC: [u8; 2] = *b"EC";
/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;

/// Field offsets of the datagram header.
pub mod field {
    use std::ops::Range;
    /// `"EC"`.
    pub const MAGIC: Range<usize> = 0..2;
    /// Protocol version.
    pub const VERSION: usize = 2;
    /// Datagram flags.
    pub const FLAGS: usize = 3;
    /// Sender id (plaintext datagrams).
    pub const SENDER: Range<usize> = 4..12;
    /// First frame (plaintext datagrams).
    pub const FRAMES: usize = 12;
}

/// Field offsets of the common frame header and of the frame bodies.
pub mod frame_field {
    use std::ops::Range;
    /// Frame type.
    pub const TYPE: usize = 0;
    /// Frame flags.
    pub const FLAGS: usize = 1;
    /// Body length.
    pub const LENGTH: Range<usize> = 2..4;
    /// First body byte.
    pub const BODY: usize = 4;
    /// Sequence number, in the body of EVENT and FRAGMENT frames.
    pub const SEQUENCE: Range<usize> = 0..8;
    /// Payload, in the body of an EVENT frame.
    pub const EVENT_PAYLOAD: usize = 8;
    /// Fragment index, in the body of a FRAGMENT frame.
    pub const FRAGMENT_INDEX: Range<usize> = 8..12;
    /// Fragment count, in the body of a FRAGMENT frame.
    pub const FRAGMENT_COUNT: Range<usize> = 12..16;
    /// Fragment data, in the body of a FRAGMENT frame.
    pub const FRAGMENT_DATA: usize = 16;
    /// Next reliable sequence the sender will use, in a HEARTBEAT body.
    pub const HEARTBEAT_NEXT: Range<usize> = 0..8;
    /// Oldest sequence the sender can still repair, in a HEARTBEAT body.
    pub const HEARTBEAT_OLDEST: Range<usize> = 8..16;
    /// Length of a HEARTBEAT body.
    pub const HEARTBEAT_LEN: usize = 16;
    /// The sender a NACK asks, in a NACK body.
    pub const NACK_TARGET: Range<usize> = 0..8;
    /// First NACK entry, in a NACK body.
    pub const NACK_ENTRIES: usize = 8;
    /// Length of one NACK entry: sequence (8), first fragment (4), end fragment (4).
    pub const NACK_ENTRY_LEN: usize = 16;
    /// Sequence, in a NACK entry.
    pub const NACK_ENTRY_SEQ: Range<usize> = 0..8;
    /// First fragment asked for, in a NACK entry.
    pub const NACK_ENTRY_FIRST: Range<usize> = 8..12;
    /// One past the last fragment asked for, in a NACK entry.
    pub const NACK_ENTRY_END: Range<usize> = 12..16;
    /// The sender a STATUS reports on, in a STATUS body.
    pub const STATUS_TARGET: Range<usize> = 0..8;
    /// The receiver's next expected sequence of that sender, in a STATUS body.
    pub const STATUS_NEXT: Range<usize> = 8..16;
    /// Length of a STATUS body.
    pub const STATUS_LEN: usize = 16;
    /// Milliseconds since the sender's reliable stream began, in an ORIGIN body.
    pub const ORIGIN_AGE: Range<usize> = 0..4;
    /// Length of an ORIGIN body.
    pub const ORIGIN_LEN: usize = 4;
}

/// Length of the 4-byte prefix every version keeps.
pub const PREFIX_LEN: usize = 4;
/// Length of a plaintext datagram header (prefix + sender id).
pub const HEADER_LEN: usize = field::FRAMES;
/// Length of the common frame header.
pub const FRAME_HEADER_LEN: usize = frame_field::BODY;
/// Bytes an EVENT frame adds to its payload.
pub const EVENT_OVERHEAD: usize = FRAME_HEADER_LEN + frame_field::EVENT_PAYLOAD;
/// Bytes a FRAGMENT frame adds to its data.
pub const FRAGMENT_OVERHEAD: usize = FRAME_HEADER_LEN + frame_field::FRAGMENT_DATA;
/// The largest fragment count a receiver accepts.
pub const MAX_FRAGMENT_COUNT: u32 = 1 << 20;
/// The largest body a frame can describe.
pub const MAX_FRAME_BODY: usize = u16::MAX as usize;

/// Datagram flag: the body is encrypted (reserved for the security layer).
pub const FLAG_SEALED: u8 = 0x01;
/// Frame flag: this frame is a repair copy.
pub const FRAME_RETRANSMIT: u8 = 0x01;
/// Frame flag: deliver without waiting for earlier events.
pub const FRAME_UNORDERED: u8 = 0x02;
/// Frame flag: do not repair if lost.
pub const FRAME_UNRELIABLE: u8 = 0x04;
const FRAME_FLAGS_KNOWN: u8 = FRAME_RETRANSMIT | FRAME_UNORDERED | FRAME_UNRELIABLE;

/// Frame type of a whole event.
pub const TYPE_EVENT: u8 = 0x01;
/// Frame type of one fragment of a segmented event.
pub const TYPE_FRAGMENT: u8 = 0x02;
/// Frame type of a sender's heartbeat.
pub const TYPE_HEARTBEAT: u8 = 0x10;
/// Frame type of a repair request.
pub const TYPE_NACK: u8 = 0x11;
/// Frame type: a receiver's progress on one sender's stream (flow control).
pub const TYPE_STATUS: u8 = 0x12;
/// Frame type: how long ago the sender's reliable stream began (where a receiver's stream
/// of it starts).
pub const TYPE_ORIGIN: u8 = 0x13;
/// Bytes an ORIGIN frame takes, header included: room every datagram keeps for one.
pub const ORIGIN_OVERHEAD: usize = FRAME_HEADER_LEN + frame_field::ORIGIN_LEN;
/// Bytes of event data one FRAGMENT frame carries in datagrams of `max_payload_size`: the
/// rest of the datagram after its header, an ORIGIN frame and the fragment's header.
pub const fn fragment_room(max_payload_size: usize) -> usize {
    max_payload_size.saturating_sub(HEADER_LEN + ORIGIN_OVERHEAD + FRAGMENT_OVERHEAD)
}

/// Whether an event payload of `len` bytes goes in one EVENT frame (with room for an
/// ORIGIN frame) in datagrams of `max_payload_size`.
pub const fn fits_whole(max_payload_size: usize, len: usize) -> bool {
    HEADER_LEN + ORIGIN_OVERHEAD + EVENT_OVERHEAD + len <= max_payload_size
}

/// `end` of a NACK entry that asks for a whole event.
pub const NACK_WHOLE: u32 = u32::MAX;

/// Why a datagram or frame could not be read. Each maps to a drop counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its header says it must be, or a length runs past the end.
    Malformed,
    /// Does not start with [`MAGIC`]: another protocol.
    BadMagic,
    /// Another protocol version.
    BadVersion(u8),
    /// Reserved flag bits set.
    UnsupportedFlags(u8),
    /// An encrypted datagram reached code without a key.
    SealedWithoutKey,
    /// A sequence number at or beyond [`Seq::LIMIT`] (2^63): no sender gets there.
    OutOfRange,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Malformed => f.write_str("malformed datagram"),
            WireError::BadMagic => f.write_str("not an eventcast datagram"),
            WireError::BadVersion(v) => write!(f, "unsupported protocol version {v}"),
            WireError::UnsupportedFlags(x) => write!(f, "unsupported flags {x:#04x}"),
            WireError::SealedWithoutKey => f.write_str("encrypted datagram but no key"),
            WireError::OutOfRange => f.write_str("sequence number out of range (2^63 or more)"),
        }
    }
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Reads a sequence number, refusing one outside [`Seq`]'s range.
fn be_seq(b: &[u8]) -> Result<Seq, WireError> {
    Seq::new(be_u64(b)).ok_or(WireError::OutOfRange)
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

/// A checked view of a plaintext datagram.
///
/// ```
/// use eventcast_proto::wire::{Datagram, FrameRepr};
/// let mut buf = Vec::new();
/// Datagram::emit_header(&mut buf, 7);
/// FrameRepr::Event { flags: 0, seq: eventcast_proto::seq::Seq::ZERO, payload: b"x" }.emit(&mut buf);
/// let dgram = Datagram::new_checked(&buf[..]).unwrap();
/// assert_eq!(dgram.sender_id(), 7);
/// assert_eq!(dgram.frames().count(), 1);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    buffer: &'a [u8],
}

impl<'a> Datagram<'a> {
    /// Checks the prefix and header and returns a view, or why the datagram is refused.
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, WireError> {
        if buffer.len() < PREFIX_LEN {
            return Err(WireError::Malformed);
        }
        if buffer[field::MAGIC] != MAGIC {
            return Err(WireError::BadMagic);
        }
        let version = buffer[field::VERSION];
        if version != VERSION {
            return Err(WireError::BadVersion(version));
        }
        let flags = buffer[field::FLAGS];
        if flags & !FLAG_SEALED != 0 {
            return Err(WireError::UnsupportedFlags(flags));
        }
        if flags & FLAG_SEALED != 0 {
            return Err(WireError::SealedWithoutKey);
        }
        if buffer.len() < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        Ok(Datagram { buffer })
    }

    /// The sender id.
    pub fn sender_id(&self) -> u64 {
        be_u64(&self.buffer[field::SENDER])
    }

    /// The frames, in order.
    pub fn frames(&self) -> Frames<'a> {
        Frames { rest: &self.buffer[field::FRAMES..] }
    }

    /// Writes a plaintext header for `sender_id` at the end of `out`.
    pub fn emit_header(out: &mut Vec<u8>, sender_id: u64) {
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(0);
        out.extend_from_slice(&sender_id.to_be_bytes());
    }
}

/// Iterator over the frames of a datagram. After a malformed frame it yields one
/// `Err(WireError::Malformed)` and stops.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<FrameRepr<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = FrameRepr::parse(self.rest);
        match parsed {
            Ok((frame, used)) => {
                self.rest = &self.rest[used..];
                Some(Ok(frame))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// One frame, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameRepr<'a> {
    /// A whole event.
    Event {
        /// Frame flags.
        flags: u8,
        /// Sender's sequence number.
        seq: Seq,
        /// Event payload (see [`super::payload`]).
        payload: &'a [u8],
    },
    /// One fragment of a segmented event.
    Fragment {
        /// Frame flags.
        flags: u8,
        /// Sender's sequence number of the event.
        seq: Seq,
        /// Position of this fragment.
        index: u32,
        /// Number of fragments of the event.
        count: u32,
        /// The fragment's bytes.
        data: &'a [u8],
    },
    /// A sender's heartbeat: what it has sent and what it can still repair.
    Heartbeat {
        /// The next reliable sequence it will use (everything below was sent).
        next_seq: Seq,
        /// The oldest sequence it can still repair.
        oldest: Seq,
    },
    /// A repair request to one sender.
    Nack {
        /// The sender asked.
        target: u64,
        /// The requested items, read with [`NackEntries`].
        entries: NackEntries<'a>,
    },
    /// A receiver's progress on one sender's reliable stream: it has every sequence below
    /// `next_expected` (delivered or given up). Senders keep within a window of the slowest.
    Status {
        /// The sender reported on.
        target: u64,
        /// The receiver's next expected sequence of that sender.
        next_expected: Seq,
    },
    /// How long ago the sender's reliable stream began (its sequence 0 was sent): a
    /// receiver that has been running at least that long starts the stream at 0, so a new
    /// sender's first events are repaired even if its first datagrams were lost; a
    /// receiver that joined later starts where it joined.
    Origin {
        /// Milliseconds since the stream began (saturating).
        age_ms: u32,
    },
    /// A frame type this version does not know; skipped.
    Unknown {
        /// Its type byte.
        kind: u8,
    },
}

impl<'a> FrameRepr<'a> {
    /// Parses one frame at the start of `bytes`; returns it and the bytes it used.
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, usize), WireError> {
        if bytes.len() < FRAME_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        let kind = bytes[frame_field::TYPE];
        let flags = bytes[frame_field::FLAGS];
        let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let end = FRAME_HEADER_LEN + len;
        if bytes.len() < end {
            return Err(WireError::Malformed);
        }
        let body = &bytes[FRAME_HEADER_LEN..end];
        let frame = match kind {
            TYPE_EVENT | TYPE_FRAGMENT if flags & !FRAME_FLAGS_KNOWN != 0 => {
                return Err(WireError::UnsupportedFlags(flags));
            }
            TYPE_EVENT => {
                if body.len() < frame_field::EVENT_PAYLOAD {
                    return Err(WireError::Malformed);
                }
                FrameRepr::Event {
                    flags,
                    seq: be_seq(&body[frame_field::SEQUENCE])?,
                    payload: &body[frame_field::EVENT_PAYLOAD..],
                }
            }
            TYPE_FRAGMENT => {
                if body.len() <= frame_field::FRAGMENT_DATA {
                    return Err(WireError::Malformed);
                }
                let index = be_u32(&body[frame_field::FRAGMENT_INDEX]);
                let count = be_u32(&body[frame_field::FRAGMENT_COUNT]);
                if !(2..=MAX_FRAGMENT_COUNT).contains(&count) || index >= count {
                    return Err(WireError::Malformed);
                }
                FrameRepr::Fragment {
                    flags,
                    seq: be_seq(&body[frame_field::SEQUENCE])?,
                    index,
                    count,
                    data: &body[frame_field::FRAGMENT_DATA..],
                }
            }
            TYPE_HEARTBEAT => {
                if body.len() != frame_field::HEARTBEAT_LEN {
                    return Err(WireError::Malformed);
                }
                FrameRepr::Heartbeat {
                    next_seq: be_seq(&body[frame_field::HEARTBEAT_NEXT])?,
                    oldest: be_seq(&body[frame_field::HEARTBEAT_OLDEST])?,
                }
            }
            TYPE_STATUS => {
                if body.len() != frame_field::STATUS_LEN {
                    return Err(WireError::Malformed);
                }
                FrameRepr::Status {
                    target: be_u64(&body[frame_field::STATUS_TARGET]),
                    next_expected: be_seq(&body[frame_field::STATUS_NEXT])?,
                }
            }
            TYPE_ORIGIN => {
                if body.len() != frame_field::ORIGIN_LEN {
                    return Err(WireError::Malformed);
                }
                let mut age = [0u8; 4];
                age.copy_from_slice(&body[frame_field::ORIGIN_AGE]);
                FrameRepr::Origin { age_ms: u32::from_be_bytes(age) }
            }
            TYPE_NACK => {
                let entries = body.get(frame_field::NACK_ENTRIES..).unwrap_or_default();
                if entries.is_empty() || entries.len() % frame_field::NACK_ENTRY_LEN != 0 {
                    return Err(WireError::Malformed);
                }
                for e in entries.chunks_exact(frame_field::NACK_ENTRY_LEN) {
                    be_seq(&e[frame_field::NACK_ENTRY_SEQ])?;
                }
                FrameRepr::Nack {
                    target: be_u64(&body[frame_field::NACK_TARGET]),
                    entries: NackEntries { bytes: entries },
                }
            }
            other => FrameRepr::Unknown { kind: other },
        };
        Ok((frame, end))
    }

    /// Bytes this frame takes on the wire, header included.
    pub fn buffer_len(&self) -> usize {
        match self {
            FrameRepr::Event { payload, .. } => EVENT_OVERHEAD + payload.len(),
            FrameRepr::Fragment { data, .. } => FRAGMENT_OVERHEAD + data.len(),
            FrameRepr::Heartbeat { .. } => FRAME_HEADER_LEN + frame_field::HEARTBEAT_LEN,
            FrameRepr::Status { .. } => FRAME_HEADER_LEN + frame_field::STATUS_LEN,
            FrameRepr::Origin { .. } => ORIGIN_OVERHEAD,
            FrameRepr::Nack { entries, .. } => FRAME_HEADER_LEN + frame_field::NACK_ENTRIES + entries.bytes.len(),
            FrameRepr::Unknown { .. } => FRAME_HEADER_LEN,
        }
    }

    /// Appends this frame to `out`. The caller keeps the body within [`MAX_FRAME_BODY`]
    /// (`max_payload_size` guarantees it); an `Unknown` frame is written with an empty body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let body_len = self.buffer_len() - FRAME_HEADER_LEN;
        debug_assert!(body_len <= MAX_FRAME_BODY);
        let (kind, flags) = match self {
            FrameRepr::Event { flags, .. } => (TYPE_EVENT, *flags),
            FrameRepr::Fragment { flags, .. } => (TYPE_FRAGMENT, *flags),
            FrameRepr::Heartbeat { .. } => (TYPE_HEARTBEAT, 0),
            FrameRepr::Nack { .. } => (TYPE_NACK, 0),
            FrameRepr::Status { .. } => (TYPE_STATUS, 0),
            FrameRepr::Origin { .. } => (TYPE_ORIGIN, 0),
            FrameRepr::Unknown { kind } => (*kind, 0),
        };
        out.push(kind);
        out.push(flags);
        out.extend_from_slice(&(body_len as u16).to_be_bytes());
        match self {
            FrameRepr::Event { seq, payload, .. } => {
                out.extend_from_slice(&seq.get().to_be_bytes());
                out.extend_from_slice(payload);
            }
            FrameRepr::Fragment { seq, index, count, data, .. } => {
                out.extend_from_slice(&seq.get().to_be_bytes());
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&count.to_be_bytes());
                out.extend_from_slice(data);
            }
            FrameRepr::Heartbeat { next_seq, oldest } => {
                out.extend_from_slice(&next_seq.get().to_be_bytes());
                out.extend_from_slice(&oldest.get().to_be_bytes());
            }
            FrameRepr::Nack { target, entries } => {
                out.extend_from_slice(&target.to_be_bytes());
                out.extend_from_slice(entries.bytes);
            }
            FrameRepr::Status { target, next_expected } => {
                out.extend_from_slice(&target.to_be_bytes());
                out.extend_from_slice(&next_expected.get().to_be_bytes());
            }
            FrameRepr::Origin { age_ms } => out.extend_from_slice(&age_ms.to_be_bytes()),
            FrameRepr::Unknown { .. } => {}
        }
    }
}

/// One item of a NACK: fragments `first..end` of event `seq`; `end == NACK_WHOLE` asks for
/// the whole event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackEntry {
    /// Event sequence.
    pub seq: Seq,
    /// First fragment asked for.
    pub first: u32,
    /// One past the last fragment asked for, or [`NACK_WHOLE`].
    pub end: u32,
}

impl NackEntry {
    /// Appends the entry's wire form to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seq.get().to_be_bytes());
        out.extend_from_slice(&self.first.to_be_bytes());
        out.extend_from_slice(&self.end.to_be_bytes());
    }
}

/// The entries of a NACK frame, as stored on the wire (a multiple of 16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackEntries<'a> {
    bytes: &'a [u8],
}

impl<'a> NackEntries<'a> {
    /// Wraps entries written with [`NackEntry::emit`]; `None` unless a non-empty multiple
    /// of the entry length whose sequences are all in range.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        let framed = !bytes.is_empty() && bytes.len() % frame_field::NACK_ENTRY_LEN == 0;
        let in_range =
            || bytes.chunks_exact(frame_field::NACK_ENTRY_LEN).all(|e| be_seq(&e[frame_field::NACK_ENTRY_SEQ]).is_ok());
        (framed && in_range()).then_some(NackEntries { bytes })
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.bytes.len() / frame_field::NACK_ENTRY_LEN
    }

    /// Whether there are none (never, for a parsed frame).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = NackEntry> + 'a {
        // every sequence was checked when the entries were wrapped
        self.bytes.chunks_exact(frame_field::NACK_ENTRY_LEN).map(|e| NackEntry {
            seq: be_seq(&e[frame_field::NACK_ENTRY_SEQ]).unwrap_or(Seq::MAX),
            first: be_u32(&e[frame_field::NACK_ENTRY_FIRST]),
            end: be_u32(&e[frame_field::NACK_ENTRY_END]),
        })
    }
}

#[cfg(test)]
mod tests;
