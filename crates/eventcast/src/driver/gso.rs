//! UDP segmentation offload (Linux): runs of equal-sized datagrams cross the kernel as one
//! message on send (`UDP_SEGMENT`, GSO), and arrive as one buffer of several datagrams on
//! receive (`UDP_GRO`), so the per-datagram cost of the stack is paid once per run. On
//! loopback the run is never split on the way; on a NIC the card or the kernel splits it.
//!
//! The sender needs no help from the receiver: a socket without GRO gets the datagrams one
//! by one, as if they had been sent so. A kernel or path without GSO refuses the first
//! segmented send; the caller then turns it off and sends datagram by datagram.

use std::io;
use std::net::SocketAddr;

use socket2::SockAddr;

/// `setsockopt`/`cmsg` values of `<linux/udp.h>` (libc does not export them for glibc).
const UDP_SEGMENT: libc::c_int = 103;
const UDP_GRO: libc::c_int = 104;
/// Datagrams per segmented message at most (the kernel's `UDP_MAX_SEGMENTS`).
pub const MAX_SEGMENTS: usize = 64;
/// Bytes of one segmented message at most (what fits one IPv6 or IPv4 packet of 64 KiB).
pub const MAX_RUN_BYTES: usize = 65_000;
/// Messages per `sendmmsg` call.
pub const MESSAGES: usize = 64;
/// Datagrams per `send_segmented` call at most (more are left for the next call).
pub const MAX_DATAGRAMS: usize = 512;

/// Scratch space of `send_segmented`, kept by the caller so that a send allocates nothing.
#[derive(Debug, Default)]
pub struct Plan {
    lens: Vec<usize>,
    runs: Vec<Run>,
}

/// One message of a send: `count` datagrams from `start`, each `segment` bytes long but
/// the last, which may be shorter (`count == 1`: a plain datagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub start: usize,
    pub count: usize,
    pub segment: usize,
}

/// Groups `lens` (datagram sizes, in order) into runs as GSO takes them: equal sizes, the
/// last of a run possibly shorter, at most [`MAX_SEGMENTS`] and [`MAX_RUN_BYTES`]; at most
/// `messages` runs. Every datagram of the returned runs is in exactly one, in order.
pub fn plan_runs(lens: &[usize], messages: usize, out: &mut Vec<Run>) {
    out.clear();
    let mut i = 0;
    while i < lens.len() && out.len() < messages {
        let segment = lens[i];
        let mut count = 1;
        let mut bytes = segment;
        while i + count < lens.len() && count < MAX_SEGMENTS && segment > 0 {
            let next = lens[i + count];
            if next > segment || bytes + next > MAX_RUN_BYTES {
                break;
            }
            count += 1;
            bytes += next;
            if next < segment {
                break; // a shorter one ends the run
            }
        }
        out.push(Run { start: i, count, segment });
        i += count;
    }
}

/// Asks the kernel to hand this socket runs of datagrams as one buffer (`UDP_GRO`); false
/// when it cannot (then datagrams come one by one, which [`recv_segmented`] handles too).
#[cfg(target_os = "linux")]
pub fn enable_gro(socket: &impl std::os::fd::AsRawFd) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: a plain int option on a live socket.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            UDP_GRO,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

/// Sends `datagrams` to `destination`, runs of equal size as one segmented message each
/// (see [`plan_runs`]); returns how many datagrams the socket took (`WouldBlock` when it
/// took none). An error from the kernel that means "no GSO here" comes back as is: the
/// caller turns segmentation off and sends again.
#[cfg(target_os = "linux")]
pub fn send_segmented(
    socket: &impl std::os::fd::AsRawFd,
    destination: &SockAddr,
    datagrams: &[&[u8]],
    plan: &mut Plan,
) -> io::Result<usize> {
    let datagrams = &datagrams[..datagrams.len().min(MAX_DATAGRAMS)];
    plan.lens.clear();
    plan.lens.extend(datagrams.iter().map(|d| d.len()));
    let runs = &mut plan.runs;
    plan_runs(&plan.lens, MESSAGES, runs);
    let taken: usize = runs.iter().map(|r| r.count).sum();
    if taken == 0 {
        return Ok(0);
    }
    let mut control = [Control::ZERO; MESSAGES];
    // SAFETY: zeroed iovec/mmsghdr are valid empty values; every pointer set below points
    // into `datagrams`, `iovecs`, `control` or `destination`, all alive for the call; the
    // kernel only reads them.
    unsafe {
        let mut iovecs: [libc::iovec; MAX_DATAGRAMS] = std::mem::zeroed();
        for (iov, d) in iovecs.iter_mut().zip(&datagrams[..taken]) {
            *iov = libc::iovec { iov_base: d.as_ptr() as *mut libc::c_void, iov_len: d.len() };
        }
        let mut headers: [libc::mmsghdr; MESSAGES] = std::mem::zeroed();
        for (m, run) in runs.iter().enumerate() {
            let h = &mut headers[m].msg_hdr;
            h.msg_name = destination.as_ptr() as *mut libc::c_void;
            h.msg_namelen = destination.len();
            h.msg_iov = iovecs.as_mut_ptr().add(run.start);
            h.msg_iovlen = run.count as _;
            if run.count > 1 {
                h.msg_control = control[m].0.as_mut_ptr().cast();
                h.msg_controllen = CONTROL_SPACE as _;
                let c = libc::CMSG_FIRSTHDR(h);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), run.segment as u16);
            }
        }
        let sent = libc::sendmmsg(socket.as_raw_fd(), headers.as_mut_ptr(), runs.len() as libc::c_uint, 0);
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(runs.iter().take(sent as usize).map(|r| r.count).sum())
    }
}

/// Whether `e` from a segmented send means the kernel or the path cannot segment.
pub fn is_gso_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP))
}

/// One received buffer: `len` bytes from `from`, holding datagrams of `segment` bytes each
/// (the last may be shorter); `segment == len` for a single datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    pub len: usize,
    pub from: Option<SocketAddr>,
    pub segment: usize,
}

impl Received {
    /// The datagrams of this buffer, as ranges of it.
    pub fn datagrams(&self) -> impl Iterator<Item = std::ops::Range<usize>> {
        let segment = self.segment.clamp(1, self.len.max(1));
        let len = self.len;
        (0..len).step_by(segment).map(move |s| s..(s + segment).min(len))
    }
}

/// Receives up to `buffer.len() / stride` buffers (the i-th at `buffer[i * stride..]`),
/// with the segment size GRO reports for each; returns how many (`WouldBlock` if none).
#[cfg(target_os = "linux")]
pub fn recv_segmented(
    socket: &impl std::os::fd::AsRawFd,
    buffer: &mut [u8],
    stride: usize,
    meta: &mut [Received],
) -> io::Result<usize> {
    let count = (buffer.len() / stride.max(1)).min(meta.len()).min(MESSAGES);
    if count == 0 {
        return Ok(0);
    }
    let mut control = [Control::ZERO; MESSAGES];
    // SAFETY: as in `send_segmented`; the kernel writes into each buffer up to `stride`,
    // each name storage up to its size and each control buffer up to `SPACE`, all ours.
    unsafe {
        let mut iovecs: [libc::iovec; MESSAGES] = std::mem::zeroed();
        let mut headers: [libc::mmsghdr; MESSAGES] = std::mem::zeroed();
        let mut names: [libc::sockaddr_storage; MESSAGES] = std::mem::zeroed();
        for i in 0..count {
            iovecs[i].iov_base = buffer[i * stride..].as_mut_ptr().cast();
            iovecs[i].iov_len = stride;
            let h = &mut headers[i].msg_hdr;
            h.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iovecs[i];
            h.msg_iovlen = 1;
            h.msg_control = control[i].0.as_mut_ptr().cast();
            h.msg_controllen = CONTROL_SPACE as _;
        }
        let got = libc::recvmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        );
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        for i in 0..got as usize {
            let h = &headers[i].msg_hdr;
            let len = headers[i].msg_len as usize;
            let mut segment = len;
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                    // the kernel writes an int here (UDP_SEGMENT takes a u16 on send)
                    let size = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                    if let Ok(size @ 1..=65_535) = usize::try_from(size) {
                        segment = size.min(len.max(1));
                    }
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
            let addr = SockAddr::new(std::mem::transmute_copy(&names[i]), h.msg_namelen);
            meta[i] = Received { len, from: addr.as_socket(), segment };
        }
        Ok(got as usize)
    }
}

// `recv_segmented` copies the kernel's address storage into socket2's.
#[cfg(target_os = "linux")]
const _: () = assert!(size_of::<libc::sockaddr_storage>() == size_of::<socket2::SockAddrStorage>());

/// Room for one control message holding an int (the largest either direction uses):
/// CMSG_SPACE(sizeof(int)) on 64-bit Linux, a 16-byte header and the int aligned to 8 (more
/// than enough on 32-bit).
const CONTROL_SPACE: usize = 16 + 8;

/// A control-message buffer, aligned as the `cmsghdr` written into it must be.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Control([u8; CONTROL_SPACE]);

impl Control {
    const ZERO: Control = Control([0; CONTROL_SPACE]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn runs(lens: &[usize]) -> Vec<Run> {
        let mut out = Vec::new();
        plan_runs(lens, MESSAGES, &mut out);
        out
    }

    #[test]
    fn equal_sizes_go_together_and_a_shorter_one_ends_a_run() {
        assert_eq!(
            runs(&[1000, 1000, 1000, 400, 1000, 50, 50]),
            vec![
                Run { start: 0, count: 4, segment: 1000 },
                Run { start: 4, count: 2, segment: 1000 },
                Run { start: 6, count: 1, segment: 50 }
            ]
        );
        assert_eq!(
            runs(&[500, 900]),
            vec![Run { start: 0, count: 1, segment: 500 }, Run { start: 1, count: 1, segment: 900 }]
        );
        assert!(runs(&[]).is_empty());
    }

    #[test]
    fn runs_stop_at_the_segment_and_byte_limits() {
        let r = runs(&[100; 200]);
        assert_eq!(r[0].count, MAX_SEGMENTS);
        let r = runs(&[20_000; 10]);
        assert!(r.iter().all(|r| r.count * r.segment <= MAX_RUN_BYTES), "{r:?}");
    }

    proptest! {
        #[test]
        fn every_datagram_is_in_one_run_in_order(lens in proptest::collection::vec(0usize..70_000, 0..300), messages in 1usize..70) {
            let mut out = Vec::new();
            plan_runs(&lens, messages, &mut out);
            prop_assert!(out.len() <= messages);
            let mut next = 0;
            for r in &out {
                prop_assert_eq!(r.start, next);
                prop_assert!(r.count >= 1 && r.count <= MAX_SEGMENTS);
                let run = &lens[r.start..r.start + r.count];
                prop_assert_eq!(run[0], r.segment);
                prop_assert!(run[..run.len() - 1].iter().all(|&l| l == r.segment));
                prop_assert!(*run.last().unwrap() <= r.segment);
                if r.count > 1 {
                    prop_assert!(run.iter().sum::<usize>() <= MAX_RUN_BYTES);
                }
                next += r.count;
            }
            prop_assert!(next == lens.len() || out.len() == messages);
        }

        #[test]
        fn received_buffers_split_into_their_datagrams(len in 0usize..70_000, segment in 0usize..70_000) {
            let r = Received { len, from: None, segment };
            let parts: Vec<_> = r.datagrams().collect();
            let mut at = 0;
            for p in &parts {
                prop_assert_eq!(p.start, at);
                prop_assert!(p.end > p.start && p.end <= len);
                at = p.end;
            }
            prop_assert_eq!(at, len);
        }
    }

    /// On loopback: a run of equal datagrams sent as one message arrives as the same
    /// datagrams, whether the receiver asked for GRO or not.
    #[cfg(target_os = "linux")]
    #[test]
    fn segmented_sends_arrive_as_the_datagrams_sent() {
        for gro in [true, false] {
            let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            rx.set_nonblocking(true).unwrap();
            // room for the whole burst as single datagrams (each its own buffer without GRO)
            socket2::SockRef::from(&rx).set_recv_buffer_size(4 << 20).unwrap();
            if gro && !enable_gro(&rx) {
                eprintln!("SKIPPED the GRO half: this kernel has no UDP_GRO");
                continue;
            }
            let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let to = SockAddr::from(rx.local_addr().unwrap());
            let payloads: Vec<Vec<u8>> =
                (0..150u32).map(|i| vec![i as u8; if i % 50 == 49 { 300 } else { 1000 }]).collect();
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let mut plan = Plan::default();
            let mut sent = 0;
            while sent < refs.len() {
                match send_segmented(&tx, &to, &refs[sent..], &mut plan) {
                    Ok(n) => sent += n,
                    Err(e) if is_gso_unsupported(&e) => {
                        eprintln!("SKIPPED: this kernel cannot segment UDP ({e})");
                        return;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            let stride = 65_536;
            let mut buffer = vec![0u8; stride * 8];
            let mut meta = vec![Received::default(); 8];
            let mut seen = Vec::new();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while seen.len() < payloads.len() && std::time::Instant::now() < deadline {
                match recv_segmented(&rx, &mut buffer, stride, &mut meta) {
                    Ok(n) => {
                        for (i, m) in meta.iter().take(n).enumerate() {
                            for part in m.datagrams() {
                                seen.push(buffer[i * stride + part.start..i * stride + part.end].to_vec());
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(seen.len(), payloads.len(), "gro {gro}: every datagram arrived");
            assert!(seen == payloads, "gro {gro}: the same datagrams, in order");
        }
    }
}

/// Where there is no segmentation offload: datagrams one by one.
#[cfg(not(target_os = "linux"))]
pub fn enable_gro(_socket: &tokio::net::UdpSocket) -> bool {
    false
}

/// See the Linux version; here plain batched sends.
#[cfg(not(target_os = "linux"))]
pub fn send_segmented(
    socket: &tokio::net::UdpSocket,
    destination: &SockAddr,
    datagrams: &[&[u8]],
    _plan: &mut Plan,
) -> io::Result<usize> {
    super::batch::send_to_many(socket, destination, datagrams)
}

/// See the Linux version; here one datagram per buffer.
#[cfg(not(target_os = "linux"))]
pub fn recv_segmented(
    socket: &tokio::net::UdpSocket,
    buffer: &mut [u8],
    stride: usize,
    meta: &mut [Received],
) -> io::Result<usize> {
    let mut plain = vec![(0, None); meta.len()];
    let n = super::batch::recv_many(socket, buffer, stride, &mut plain)?;
    for (m, (len, from)) in meta.iter_mut().zip(plain).take(n) {
        *m = Received { len, from, segment: len };
    }
    Ok(n)
}
