//! The hand-off of received events from the instance's dispatcher thread to the JavaScript
//! thread: one bounded byte buffer of records, drained in batches.
//!
//! The dispatcher appends a record per event (or loss report) and, when the buffer goes
//! from empty to non-empty, wakes JavaScript once through a thread-safe function; the
//! JavaScript side then takes the whole buffer at once and decodes it. One wake-up and one
//! crossing of the boundary serve a whole batch, so the cost per event is a copy and a
//! decode, not a call. When JavaScript falls behind and the buffer holds `max_bytes`, the
//! dispatcher waits for it: the instance's flow control then slows the senders, and
//! nothing is dropped.
//!
//! Record layout (little-endian), what `lib/codec.js` reads:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | length of the rest of the record |
//! | 4 | 1 | kind: [`KIND_EVENT`] or [`KIND_LOSS`] |
//!
//! An event then has: sender (8), sequence number (8), name length (2), source address
//! length (1), the name (UTF-8), the source address (`IP:PORT`, ASCII), the arguments (one
//! BSON document). A loss has: sender (8), first (8), last (8).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use eventcast::{Event, Loss};

/// Record kind of an event.
pub const KIND_EVENT: u8 = 0;
/// Record kind of a loss report.
pub const KIND_LOSS: u8 = 1;

/// How the inbox wakes the JavaScript thread (a thread-safe function in the addon; a
/// counter in tests).
pub trait Wake: Send + Sync + 'static {
    /// Asks for one drain on the JavaScript thread; must not block.
    fn wake(&self);
}

struct State {
    buf: Vec<u8>,
    /// A wake-up was sent and the buffer not taken since: no need for another.
    woken: bool,
    closed: bool,
    /// Times the dispatcher found the buffer full and waited.
    full_waits: u64,
}

/// The bounded buffer between the dispatcher and JavaScript.
pub struct Inbox<W: Wake> {
    state: Mutex<State>,
    room: Condvar,
    max_bytes: usize,
    waker: W,
}

impl<W: Wake> Inbox<W> {
    /// An empty inbox that holds at most `max_bytes` of records (a single record larger
    /// than that is still taken when the buffer is empty).
    pub fn new(max_bytes: usize, waker: W) -> Self {
        Inbox {
            state: Mutex::new(State { buf: Vec::new(), woken: false, closed: false, full_waits: 0 }),
            room: Condvar::new(),
            max_bytes,
            waker,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an event, waiting while the buffer is full (until JavaScript takes it, or
    /// the inbox closes, when the event is dropped: nobody is left to read it).
    pub fn push_event(&self, ev: &Event) {
        let Ok(args) = ev.raw_args() else { return };
        let args = args.as_bytes();
        let name = ev.name().as_bytes();
        let from = ev.from().map(|a| a.to_string()).unwrap_or_default();
        let from = &from.as_bytes()[..from.len().min(255)];
        let body = 1 + 8 + 8 + 2 + 1 + name.len() + from.len() + args.len();
        self.append(4 + body, |buf| {
            buf.extend_from_slice(&(body as u32).to_le_bytes());
            buf.push(KIND_EVENT);
            buf.extend_from_slice(&ev.sender().0.to_le_bytes());
            buf.extend_from_slice(&ev.seq().to_le_bytes());
            buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
            buf.push(from.len() as u8);
            buf.extend_from_slice(name);
            buf.extend_from_slice(from);
            buf.extend_from_slice(args);
        });
    }

    /// Appends a loss report (never waits long: reports are small and rare).
    pub fn push_loss(&self, loss: &Loss) {
        let body = 1 + 8 + 8 + 8;
        self.append(4 + body, |buf| {
            buf.extend_from_slice(&(body as u32).to_le_bytes());
            buf.push(KIND_LOSS);
            buf.extend_from_slice(&loss.sender.0.to_le_bytes());
            buf.extend_from_slice(&loss.first.to_le_bytes());
            buf.extend_from_slice(&loss.last.to_le_bytes());
        });
    }

    fn append(&self, len: usize, write: impl FnOnce(&mut Vec<u8>)) {
        let mut state = self.lock();
        let mut counted = false;
        while !state.closed && !state.buf.is_empty() && state.buf.len() + len > self.max_bytes {
            if !counted {
                state.full_waits += 1;
                counted = true;
            }
            // Bounded waits, so a missed notification costs a moment, never a hang.
            state = self.room.wait_timeout(state, Duration::from_millis(50)).unwrap_or_else(|p| p.into_inner()).0;
        }
        if state.closed {
            return;
        }
        write(&mut state.buf);
        let wake = !state.woken;
        state.woken = true;
        drop(state);
        if wake {
            self.waker.wake();
        }
    }

    /// Takes everything buffered (empty when nothing is), and lets a waiting dispatcher go on.
    pub fn take(&self) -> Vec<u8> {
        let mut state = self.lock();
        let out = std::mem::take(&mut state.buf);
        state.woken = false;
        drop(state);
        self.room.notify_all();
        out
    }

    /// Times the dispatcher waited for JavaScript to make room.
    pub fn full_waits(&self) -> u64 {
        self.lock().full_waits
    }

    /// Drops what is buffered and everything pushed from now on, and releases a waiting
    /// dispatcher: for when JavaScript is gone (the environment is torn down).
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.buf = Vec::new();
        drop(state);
        self.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Clone, Default)]
    struct Count(Arc<AtomicUsize>);
    impl Wake for Count {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn event(name: &str, text: &str) -> Event {
        Event::local(name, &(text,)).unwrap()
    }

    #[test]
    fn one_wake_per_batch_and_records_as_documented() {
        let wakes = Count::default();
        let inbox = Inbox::new(1 << 20, wakes.clone());
        inbox.push_event(&event("a.b", "x"));
        inbox.push_event(&event("c", "y"));
        inbox.push_loss(&Loss { sender: eventcast::SenderId(7), first: 3, last: 5 });
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "one wake-up for the whole batch");
        let buf = inbox.take();
        assert!(inbox.take().is_empty());

        let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
        assert_eq!(buf[4], KIND_EVENT);
        assert_eq!(u16::from_le_bytes([buf[21], buf[22]]), 3);
        assert_eq!(buf[23], 0, "a local event has no source address");
        assert_eq!(&buf[24..27], b"a.b");
        let args = bson::RawDocument::from_bytes(&buf[27..4 + len]).unwrap();
        assert_eq!(args.get_str("0").unwrap(), "x");
        let second = 4 + len;
        let len2 = u32::from_le_bytes(buf[second..second + 4].try_into().unwrap()) as usize;
        let loss = second + 4 + len2;
        assert_eq!(buf[loss + 4], KIND_LOSS);
        assert_eq!(u64::from_le_bytes(buf[loss + 5..loss + 13].try_into().unwrap()), 7);
        assert_eq!(buf.len(), loss + 4 + 25);

        inbox.push_event(&event("again", ""));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 2, "taking re-arms the wake-up");
    }

    #[test]
    fn a_full_inbox_holds_the_dispatcher_until_taken_or_closed() {
        let inbox = Arc::new(Inbox::new(64, Count::default()));
        inbox.push_event(&event("big", &"x".repeat(100)));
        assert!(inbox.lock().buf.len() > 64, "one record larger than the bound is still taken");
        let pusher = {
            let inbox = inbox.clone();
            std::thread::spawn(move || inbox.push_event(&event("next", "y")))
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!pusher.is_finished(), "the dispatcher waits while the inbox is full");
        assert_eq!(inbox.full_waits(), 1);
        let first = inbox.take();
        pusher.join().unwrap();
        assert!(first.len() > 64);
        assert!(!inbox.take().is_empty(), "the waiting event went in once there was room");

        inbox.push_event(&event("big", &"x".repeat(100)));
        let pusher = {
            let inbox = inbox.clone();
            std::thread::spawn(move || inbox.push_event(&event("next", "y")))
        };
        std::thread::sleep(Duration::from_millis(60));
        inbox.close();
        pusher.join().unwrap();
        assert!(inbox.take().is_empty(), "closing drops what waits and what comes");
    }
}
