//! Codec tests: round trips, refusals, and arbitrary bytes.
use super::*;
use proptest::prelude::*;

fn s(v: u64) -> Seq {
    Seq::new(v).unwrap()
}

fn datagram(frames: &[FrameRepr<'_>]) -> Vec<u8> {
    let mut buf = Vec::new();
    Datagram::emit_header(&mut buf, 0xdead_beef);
    for f in frames {
        f.emit(&mut buf);
    }
    buf
}

#[test]
fn roundtrip_event_and_fragment() {
    let frames = [
        FrameRepr::Event { flags: FRAME_UNORDERED, seq: s(9), payload: b"abc" },
        FrameRepr::Fragment { flags: 0, seq: s(10), index: 1, count: 3, data: b"zz" },
    ];
    let buf = datagram(&frames);
    assert_eq!(buf.len(), HEADER_LEN + frames.iter().map(|f| f.buffer_len()).sum::<usize>());
    let d = Datagram::new_checked(&buf[..]).unwrap();
    assert_eq!(d.sender_id(), 0xdead_beef);
    let got: Vec<_> = d.frames().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, frames);
}

#[test]
fn refuses_foreign_and_other_versions() {
    assert_eq!(Datagram::new_checked(b"").unwrap_err(), WireError::Malformed);
    assert_eq!(Datagram::new_checked(b"GET / HTTP/1.1").unwrap_err(), WireError::BadMagic);
    let mut buf = datagram(&[]);
    buf[field::VERSION] = 2;
    assert_eq!(Datagram::new_checked(&buf[..]).unwrap_err(), WireError::BadVersion(2));
    buf[field::VERSION] = VERSION;
    buf[field::FLAGS] = 0x80;
    assert_eq!(Datagram::new_checked(&buf[..]).unwrap_err(), WireError::UnsupportedFlags(0x80));
    buf[field::FLAGS] = FLAG_SEALED;
    assert_eq!(Datagram::new_checked(&buf[..]).unwrap_err(), WireError::SealedWithoutKey);
    assert_eq!(Datagram::new_checked(&buf[..8]).unwrap_err(), WireError::SealedWithoutKey);
    buf[field::FLAGS] = 0;
    assert_eq!(Datagram::new_checked(&buf[..8]).unwrap_err(), WireError::Malformed);
}

#[test]
fn unknown_frames_are_skipped_and_bad_fragments_refused() {
    let mut buf = datagram(&[]);
    buf.extend_from_slice(&[0x7f, 0, 0, 2, 1, 2]);
    FrameRepr::Event { flags: 0, seq: s(1), payload: b"p" }.emit(&mut buf);
    let d = Datagram::new_checked(&buf[..]).unwrap();
    let got: Vec<_> = d.frames().collect();
    assert_eq!(got[0], Ok(FrameRepr::Unknown { kind: 0x7f }));
    assert!(matches!(got[1], Ok(FrameRepr::Event { seq, .. }) if seq == s(1)));

    for (index, count) in [(0u32, 1u32), (3, 3), (0, MAX_FRAGMENT_COUNT + 1)] {
        let mut body = Vec::new();
        body.extend_from_slice(&1u64.to_be_bytes());
        body.extend_from_slice(&index.to_be_bytes());
        body.extend_from_slice(&count.to_be_bytes());
        body.push(0);
        let mut frame = vec![TYPE_FRAGMENT, 0];
        frame.extend_from_slice(&(body.len() as u16).to_be_bytes());
        frame.extend_from_slice(&body);
        assert_eq!(FrameRepr::parse(&frame), Err(WireError::Malformed), "{index}/{count}");
    }
}

#[test]
fn control_frames_roundtrip() {
    let mut entries = Vec::new();
    NackEntry { seq: s(5), first: 0, end: NACK_WHOLE }.emit(&mut entries);
    NackEntry { seq: s(6), first: 2, end: 4 }.emit(&mut entries);
    let frames = [
        FrameRepr::Heartbeat { next_seq: s(10), oldest: s(3) },
        FrameRepr::Nack { target: 77, entries: NackEntries::new(&entries).unwrap() },
        FrameRepr::Origin { age_ms: u32::MAX },
        FrameRepr::Origin { age_ms: 0 },
    ];
    let buf = datagram(&frames);
    let d = Datagram::new_checked(&buf[..]).unwrap();
    let got: Vec<_> = d.frames().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, frames);
    let FrameRepr::Nack { entries: parsed, .. } = got[1] else { unreachable!() };
    let list: Vec<_> = parsed.iter().collect();
    assert_eq!(list, [NackEntry { seq: s(5), first: 0, end: NACK_WHOLE }, NackEntry { seq: s(6), first: 2, end: 4 }]);
    assert!(NackEntries::new(&entries[..15]).is_none());
    // a NACK with no entries, a short heartbeat
    assert_eq!(FrameRepr::parse(&[TYPE_NACK, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]), Err(WireError::Malformed));
    assert_eq!(FrameRepr::parse(&[TYPE_HEARTBEAT, 0, 0, 1, 0]), Err(WireError::Malformed));
    // an ORIGIN body is exactly four bytes
    assert_eq!(FrameRepr::parse(&[TYPE_ORIGIN, 0, 0, 3, 0, 0, 1]), Err(WireError::Malformed));
    assert_eq!(FrameRepr::parse(&[TYPE_ORIGIN, 0, 0, 5, 0, 0, 0, 1, 2]), Err(WireError::Malformed));
}

#[test]
fn truncated_frame_ends_iteration_with_error() {
    let mut buf = datagram(&[FrameRepr::Event { flags: 0, seq: s(1), payload: b"hello" }]);
    buf.truncate(buf.len() - 1);
    let d = Datagram::new_checked(&buf[..]).unwrap();
    let got: Vec<_> = d.frames().collect();
    assert_eq!(got, vec![Err(WireError::Malformed)]);
}

proptest! {
    #[test]
    fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(d) = Datagram::new_checked(&bytes[..]) {
            let _ = d.sender_id();
            for f in d.frames() { let _ = f; }
        }
    }

    #[test]
    fn valid_header_with_random_frames_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut buf = datagram(&[]);
        buf.extend_from_slice(&tail);
        let d = Datagram::new_checked(&buf[..]).unwrap();
        let n = d.frames().count();
        prop_assert!(n <= tail.len() / FRAME_HEADER_LEN + 1);
    }

    #[test]
    fn emitted_frames_parse_back(seq in (0..Seq::LIMIT).prop_map(s), payload in proptest::collection::vec(any::<u8>(), 0..200),
                                count in 2u32..1000, index_seed in any::<u32>()) {
        let index = index_seed % count;
        let frames = [
            FrameRepr::Event { flags: 0, seq, payload: &payload },
            FrameRepr::Fragment { flags: FRAME_RETRANSMIT, seq, index, count, data: if payload.is_empty() { b"x" } else { &payload } },
        ];
        let buf = datagram(&frames);
        let d = Datagram::new_checked(&buf[..]).unwrap();
        let got: Vec<_> = d.frames().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(got, frames.to_vec());
    }
}

/// Every field naming a sequence refuses 2^63 and above, in every frame type, and keeps
/// the frames before the bad one.
#[test]
fn sequences_at_or_beyond_two_to_the_63_are_out_of_range() {
    for bad in [1u64 << 63, (1 << 63) + 1, u64::MAX] {
        let good = datagram(&[FrameRepr::Event { flags: 0, seq: s(1), payload: b"p" }]);
        let mut bodies: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut event = bad.to_be_bytes().to_vec();
        event.push(b'x');
        bodies.push((TYPE_EVENT, event.clone()));
        let mut frag = bad.to_be_bytes().to_vec();
        frag.extend_from_slice(&0u32.to_be_bytes());
        frag.extend_from_slice(&2u32.to_be_bytes());
        frag.push(b'x');
        bodies.push((TYPE_FRAGMENT, frag));
        for (a, b) in [(bad, 0), (0, bad)] {
            let mut hb = a.to_be_bytes().to_vec();
            hb.extend_from_slice(&b.to_be_bytes());
            bodies.push((TYPE_HEARTBEAT, hb));
        }
        let mut status = 7u64.to_be_bytes().to_vec();
        status.extend_from_slice(&bad.to_be_bytes());
        bodies.push((TYPE_STATUS, status));
        let mut nack = 7u64.to_be_bytes().to_vec();
        for seq in [3, bad] {
            nack.extend_from_slice(&seq.to_be_bytes());
            nack.extend_from_slice(&0u32.to_be_bytes());
            nack.extend_from_slice(&NACK_WHOLE.to_be_bytes());
        }
        assert!(NackEntries::new(&nack[8..]).is_none());
        bodies.push((TYPE_NACK, nack));
        for (kind, body) in bodies {
            let mut buf = good.clone();
            buf.extend_from_slice(&[kind, 0]);
            buf.extend_from_slice(&(body.len() as u16).to_be_bytes());
            buf.extend_from_slice(&body);
            let got: Vec<_> = Datagram::new_checked(&buf[..]).unwrap().frames().collect();
            assert_eq!(got.len(), 2, "type {kind:#x}");
            assert!(got[0].is_ok());
            assert_eq!(got[1], Err(WireError::OutOfRange), "type {kind:#x} with {bad}");
        }
    }
}
