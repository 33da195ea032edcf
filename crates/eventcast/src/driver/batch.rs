//! Batched datagram I/O: many datagrams per system call with `sendmmsg`/`recvmmsg` on Linux,
//! one call per datagram elsewhere. Non-blocking sockets: `WouldBlock` ends a batch.

use std::io;
use std::net::SocketAddr;

use socket2::SockAddr;
use tokio::net::UdpSocket;

/// Datagrams moved per system call at most.
pub const BATCH: usize = 64;

/// Sends each of `datagrams` to `destination`; returns how many the socket took (fewer
/// than asked when its buffer is full: `WouldBlock` only when it took none).
#[cfg(target_os = "linux")]
pub fn send_to_many(
    socket: &impl std::os::fd::AsRawFd,
    destination: &SockAddr,
    datagrams: &[&[u8]],
) -> io::Result<usize> {
    let count = datagrams.len().min(BATCH);
    if count == 0 {
        return Ok(0);
    }
    // SAFETY: zeroed iovec/mmsghdr are valid "empty" values; every pointer set below points
    // into `datagrams` or `destination`, which outlive the call, and the kernel only reads
    // through them (sendmmsg does not write to the buffers or the address).
    unsafe {
        let mut iovecs: [libc::iovec; BATCH] = std::mem::zeroed();
        let mut headers: [libc::mmsghdr; BATCH] = std::mem::zeroed();
        for i in 0..count {
            iovecs[i].iov_base = datagrams[i].as_ptr() as *mut libc::c_void;
            iovecs[i].iov_len = datagrams[i].len();
            let h = &mut headers[i].msg_hdr;
            h.msg_name = destination.as_ptr() as *mut libc::c_void;
            h.msg_namelen = destination.len();
            h.msg_iov = &mut iovecs[i];
            h.msg_iovlen = 1;
        }
        let sent = libc::sendmmsg(socket.as_raw_fd(), headers.as_mut_ptr(), count as libc::c_uint, 0);
        if sent < 0 { Err(io::Error::last_os_error()) } else { Ok(sent as usize) }
    }
}

/// Receives up to `buffer.len() / stride` datagrams, the i-th at `buffer[i * stride..]`
/// (longer ones are cut to `stride`): sizes and sources go to `meta`; returns how many
/// arrived (`WouldBlock` when none were waiting). The socket must not have asked for GRO
/// (see `gso::recv_segmented`, which this uses).
#[cfg(target_os = "linux")]
pub fn recv_many(
    socket: &UdpSocket,
    buffer: &mut [u8],
    stride: usize,
    meta: &mut [(usize, Option<SocketAddr>)],
) -> io::Result<usize> {
    let mut received = [super::gso::Received::default(); BATCH];
    let count = meta.len().min(BATCH);
    let n = super::gso::recv_segmented(socket, buffer, stride, &mut received[..count])?;
    for (m, r) in meta.iter_mut().zip(&received[..n]) {
        *m = (r.len, r.from);
    }
    Ok(n)
}

/// One datagram per call where `sendmmsg` does not exist.
#[cfg(not(target_os = "linux"))]
pub fn send_to_many(socket: &UdpSocket, destination: &SockAddr, datagrams: &[&[u8]]) -> io::Result<usize> {
    let to = destination.as_socket().ok_or_else(|| io::Error::other("not an IP address"))?;
    let mut sent = 0;
    for d in datagrams.iter().take(BATCH) {
        match socket.try_send_to(d, to) {
            Ok(_) => sent += 1,
            Err(e) if sent > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

/// One datagram per call where `recvmmsg` does not exist.
#[cfg(not(target_os = "linux"))]
pub fn recv_many(
    socket: &UdpSocket,
    buffer: &mut [u8],
    stride: usize,
    meta: &mut [(usize, Option<SocketAddr>)],
) -> io::Result<usize> {
    let mut got = 0;
    for (chunk, m) in buffer.chunks_mut(stride.max(1)).zip(meta.iter_mut()).take(BATCH) {
        match socket.try_recv_from(chunk) {
            Ok((n, from)) => {
                *m = (n, Some(from));
                got += 1;
            }
            Err(e) if got > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn many_datagrams_go_and_come_in_one_call_each() {
        let bound = |_| {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_nonblocking(true).unwrap();
            UdpSocket::from_std(s).unwrap()
        };
        let (rx, tx) = (bound(0), bound(1));
        let to = SockAddr::from(rx.local_addr().unwrap());
        let payloads: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 1 + i as usize]).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let mut sent = 0;
        while sent < refs.len() {
            sent += send_to_many(&tx, &to, &refs[sent..]).unwrap();
        }
        let stride = 2048;
        let mut buffer = vec![0u8; stride * BATCH];
        let mut meta = vec![(0, None); BATCH];
        let mut seen = Vec::new();
        while seen.len() < 100 {
            match recv_many(&rx, &mut buffer, stride, &mut meta) {
                Ok(n) => {
                    for (i, (len, from)) in meta.iter().take(n).enumerate() {
                        assert_eq!(*from, Some(tx.local_addr().unwrap()));
                        seen.push(buffer[i * stride..i * stride + len].to_vec());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => tokio::task::yield_now().await,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(seen, payloads);
        let none = recv_many(&rx, &mut buffer, stride, &mut meta).unwrap_err();
        assert_eq!(none.kind(), io::ErrorKind::WouldBlock);
    }
}
