//! Drops this instance's own datagrams in the kernel. With multicast loopback on (so that
//! instances on one host hear each other), every datagram a socket sends to the group comes
//! back to that socket too; reading and discarding them cost a sender a large share of its
//! time. A classic BPF socket filter recognises them by 8 bytes only this run writes at a
//! fixed place: the sender id in a plaintext datagram, the top 64 bits of the run's random
//! nonce base in a sealed one (the packet counter added to the base changes them only when
//! it carries out of the low 32 bits). A foreign datagram matches only by a 2^-64 coincidence.
//! Should the filter not attach, or the counter carry, own datagrams are still recognised and
//! dropped after reading (`own_echo`).

/// Where the marker is, counted from the start of the UDP payload, and its value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OwnMarker {
    pub offset: u32,
    pub bytes: [u8; 8],
}

impl OwnMarker {
    /// The marker of a run with sender id `sender`, sealing with `sealing` if any.
    pub fn for_run(sender: u64, sealing: Option<&crate::proto::Sealing>) -> Self {
        match sealing {
            None => OwnMarker { offset: crate::proto::wire::field::SENDER.start as u32, bytes: sender.to_be_bytes() },
            Some(s) => {
                // The 12-byte nonce is the low 96 bits of base + counter: its first 8 bytes
                // are the base's bytes 4..12 until the counter carries out of 32 bits.
                let mut top = [0u8; 8];
                top.copy_from_slice(&s.nonce_base.to_be_bytes()[4..12]);
                OwnMarker { offset: crate::proto::crypto::NONCE as u32, bytes: top }
            }
        }
    }
}

/// Attaches the filter; Linux only (elsewhere own datagrams are dropped after reading).
#[cfg(target_os = "linux")]
pub(crate) fn attach(socket: &socket2::Socket, marker: OwnMarker) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // Socket filters on UDP see the packet from the UDP header (8 bytes) on.
    let at = 8 + marker.offset;
    let hi = u32::from_be_bytes(marker.bytes[..4].try_into().unwrap_or_default());
    let lo = u32::from_be_bytes(marker.bytes[4..].try_into().unwrap_or_default());
    const LD_W_ABS: u16 = 0x20;
    const LD_W_LEN: u16 = 0x80;
    const JGE_K: u16 = 0x35;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let mut program = [
        op(LD_W_LEN, 0, 0, 0),
        op(JGE_K, 0, 4, at + 8), // shorter than the marker's end: accept
        op(LD_W_ABS, 0, 0, at),
        op(JEQ_K, 0, 2, hi),
        op(LD_W_ABS, 0, 0, at + 4),
        op(JEQ_K, 1, 0, lo),
        op(RET_K, 0, 0, u32::MAX), // accept the whole datagram
        op(RET_K, 0, 0, 0),        // drop: our own
    ];
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
    // SAFETY: `fprog` points at `program`, which lives until the call returns; the kernel
    // copies the program.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn attach(_socket: &socket2::Socket, _marker: OwnMarker) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    #[test]
    fn only_datagrams_with_the_marker_are_dropped() {
        let rx = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        rx.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
        let marker = OwnMarker { offset: 4, bytes: *b"\x01\x02\x03\x04\x05\x06\x07\x08" };
        attach(&rx, marker).unwrap();
        let rx: UdpSocket = rx.into();
        rx.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        for d in [
            &b"EC\x01\x00\x01\x02\x03\x04\x05\x06\x07\x08own"[..], // marker: dropped
            b"EC\x01\x00\x01\x02\x03\x04\x05\x06\x07\x09other",    // differs in the last byte
            b"EC\x01\x00\x01\x02\x03\x04\x05\x06\x07",             // too short to hold it
            b"EC\x01\x00\xff\x02\x03\x04\x05\x06\x07\x08x",        // differs in the first
        ] {
            tx.send_to(d, to).unwrap();
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(n) = rx.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.iter().all(|d| !d.ends_with(b"own")));
    }
}
