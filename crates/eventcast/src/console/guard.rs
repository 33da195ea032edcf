//! Who may try a token, and how often: per client address, connections still waiting for
//! their token are bounded (a new one pushes out the oldest silent one, so silence holds
//! nothing), and wrong tokens lock the address out for a time that doubles with each
//! failure, across connections, so that guessing slows to a crawl.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a client has to type the token.
pub(crate) const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections from one address waiting for their token at most; a new one closes the
/// oldest.
pub(crate) const MAX_PENDING_PER_ADDR: usize = 4;
/// Connections waiting for their token at most, from all addresses.
pub(crate) const MAX_PENDING: usize = 64;
/// The lockout after the first wrong token; each further one doubles it…
pub(crate) const FIRST_LOCKOUT: Duration = Duration::from_millis(300);
/// …up to this.
pub(crate) const MAX_LOCKOUT: Duration = Duration::from_secs(60);
/// Addresses remembered with failures at most (the stalest is forgotten first).
const MAX_REMEMBERED: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    locked_until: Instant,
}

/// Why a connection may not try a token now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its address gave wrong tokens; it may try again after this long.
    LockedOut(Duration),
    /// Too many connections are waiting for their token.
    TooManyPending,
}

/// The state shared by the console's sessions.
#[derive(Debug, Default)]
pub(crate) struct AuthGuard {
    /// Connections at the token prompt, oldest first, with what closes each.
    pending: HashMap<IpAddr, VecDeque<(u64, tokio::sync::oneshot::Sender<()>)>>,
    pending_total: usize,
    next_id: u64,
    failures: HashMap<IpAddr, Failures>,
}

/// An admitted connection: its id, and what tells it that a newer one took its place.
pub(crate) type Admission = (u64, tokio::sync::oneshot::Receiver<()>);

impl AuthGuard {
    /// Admits a connection from `ip` to the token prompt, or says why not. An admitted
    /// connection must be [`AuthGuard::finish`]ed.
    pub(crate) fn admit(&mut self, ip: IpAddr, now: Instant) -> Result<Admission, Refusal> {
        if let Some(f) = self.failures.get(&ip).filter(|f| f.locked_until > now) {
            return Err(Refusal::LockedOut(f.locked_until - now));
        }
        let mine = self.pending.entry(ip).or_default();
        if mine.len() >= MAX_PENDING_PER_ADDR {
            mine.pop_front(); // dropping its sender closes the oldest silent connection
            self.pending_total -= 1;
        } else if self.pending_total >= MAX_PENDING {
            return Err(Refusal::TooManyPending);
        }
        let (kick, kicked) = tokio::sync::oneshot::channel();
        let id = self.next_id;
        self.next_id += 1;
        mine.push_back((id, kick));
        self.pending_total += 1;
        Ok((id, kicked))
    }

    /// The token phase of an admitted connection ended: `Some(true)` right, `Some(false)`
    /// wrong, `None` no answer (closed or timed out). Returns how long to wait before
    /// answering a wrong token (also the lockout of its address).
    pub(crate) fn finish(&mut self, ip: IpAddr, id: u64, now: Instant, right: Option<bool>) -> Duration {
        if let Some(mine) = self.pending.get_mut(&ip) {
            if let Some(i) = mine.iter().position(|(x, _)| *x == id) {
                mine.remove(i);
                self.pending_total -= 1;
            }
            if mine.is_empty() {
                self.pending.remove(&ip);
            }
        }
        match right {
            Some(true) => {
                self.failures.remove(&ip);
                Duration::ZERO
            }
            Some(false) => {
                if self.failures.len() >= MAX_REMEMBERED && !self.failures.contains_key(&ip) {
                    let stalest = self.failures.iter().min_by_key(|(_, f)| f.locked_until).map(|(ip, _)| *ip);
                    stalest.map(|s| self.failures.remove(&s));
                }
                let f = self.failures.entry(ip).or_insert(Failures { count: 0, locked_until: now });
                f.count = f.count.saturating_add(1);
                let delay = (FIRST_LOCKOUT * 2u32.saturating_pow(f.count - 1).min(1 << 10)).min(MAX_LOCKOUT);
                f.locked_until = now + delay;
                delay
            }
            None => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_tokens_lock_an_address_out_for_doubling_times() {
        let (mut g, t0) = (AuthGuard::default(), Instant::now());
        let (ip, other): (IpAddr, IpAddr) = ("10.0.0.5".parse().unwrap(), "10.0.0.6".parse().unwrap());
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..12 {
            let (id, _) = g.admit(ip, now).unwrap();
            let d = g.finish(ip, id, now, Some(false));
            assert_eq!(g.admit(ip, now + d / 2).err(), Some(Refusal::LockedOut(d - d / 2)));
            let (id, _) = g.admit(other, now).unwrap(); // another address is not affected
            g.finish(other, id, now, None);
            delays.push(d);
            now += d;
        }
        assert_eq!(delays[0], FIRST_LOCKOUT);
        assert_eq!(delays[1], 2 * FIRST_LOCKOUT);
        assert_eq!(*delays.last().unwrap(), MAX_LOCKOUT);
        // twelve guesses took minutes, not 3.6 s
        assert!(now - t0 > Duration::from_secs(150), "{:?}", now - t0);
        let (id, _) = g.admit(ip, now).unwrap();
        assert_eq!(g.finish(ip, id, now, Some(true)), Duration::ZERO);
        let (id, _) = g.admit(ip, now).unwrap();
        assert_eq!(g.finish(ip, id, now, Some(false)), FIRST_LOCKOUT, "a right token resets the count");
    }

    #[test]
    fn a_new_connection_pushes_out_the_oldest_silent_one() {
        let (mut g, now) = (AuthGuard::default(), Instant::now());
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        let mut silent: Vec<Admission> = (0..MAX_PENDING_PER_ADDR).map(|_| g.admit(ip, now).unwrap()).collect();
        let (newest, _kept) = g.admit(ip, now).unwrap();
        assert!(silent[0].1.try_recv().is_err_and(|e| e == tokio::sync::oneshot::error::TryRecvError::Closed));
        assert!(silent[1].1.try_recv().is_err_and(|e| e == tokio::sync::oneshot::error::TryRecvError::Empty));
        g.finish(ip, silent[0].0, now, None); // already gone: nothing changes
        g.finish(ip, newest, now, Some(true));
        for i in 0..MAX_PENDING - (MAX_PENDING_PER_ADDR - 1) {
            g.admit(IpAddr::from([10, 1, (i / 200) as u8, (i % 200) as u8]), now).unwrap();
        }
        assert_eq!(g.admit("10.9.9.9".parse().unwrap(), now).err(), Some(Refusal::TooManyPending));
    }
}
