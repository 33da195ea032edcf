//! The bounded hand-over between the driver task and the dispatcher thread.
//!
//! The driver moves received events and loss reports here while there is room, and leaves
//! the rest in the protocol core (whose own queue is bounded in events and bytes). The
//! dispatcher thread takes them in batches, runs the listeners, and reports back which
//! reliable events the application took, so that the receiver's progress reports (flow
//! control) count only those. Nothing here ever makes the driver wait.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::event::{Event, Loss};
use crate::proto::Taken;

/// Items waiting for the dispatcher, at most.
pub(crate) const MAX_ITEMS: usize = 1024;
/// Bytes of event payload waiting for the dispatcher, at most (one item of any size is
/// always let in, so an event as large as `max_event_size` still passes).
pub(crate) const MAX_BYTES: usize = 16 << 20;
/// Times the dispatcher yields its core before it sleeps waiting for items.
const YIELDS_BEFORE_SLEEP: u32 = 2;
/// Items the dispatcher takes in one go.
pub(crate) const BATCH: usize = 256;

/// Something for the listeners.
pub(crate) enum Item {
    /// An event; `taken` names (sender, sequence) of a reliable event from the network,
    /// whose taking the receiver reports to its sender.
    Event { event: Event, taken: Option<(u64, u64)> },
    /// Events of a sender that could not be repaired.
    Loss(Loss),
}

impl Item {
    /// The event's name (empty for a loss report).
    pub fn name(&self) -> &str {
        match self {
            Item::Event { event, .. } => event.name(),
            Item::Loss(_) => "",
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Item::Event { event, .. } => event.encoded_len(),
            Item::Loss(_) => 0,
        }
    }
}

#[derive(Default)]
struct State {
    items: VecDeque<Item>,
    bytes: usize,
    /// Items ever pushed; the position of the next one.
    pushed: u64,
    /// Reliable events taken since the driver last looked.
    taken: Vec<Taken>,
    /// The dispatcher waits for items (a push must wake it).
    idle: bool,
    /// No more items come (the instance stops): the dispatcher ends once it is empty.
    closed: bool,
    /// When the oldest waiting item was pushed onto an empty queue: the stuck clock runs
    /// from then at the earliest, so a quiet spell is not mistaken for stuck listeners.
    waiting_since: Option<Instant>,
}

/// See the module documentation.
pub(crate) struct DeliveryQueue {
    state: Mutex<State>,
    /// The dispatcher waits on it for items.
    ready: Condvar,
    /// Woken when the dispatcher took items (room again, and events taken to report).
    pub driver_wake: Notify,
    /// Woken when items were dispatched (`done` moved).
    pub progress: Notify,
    /// Items dispatched so far.
    done: AtomicU64,
    /// When `done` last moved, in milliseconds since `base`.
    last_progress_ms: AtomicU64,
    base: Instant,
    /// Stop waiting for listeners: drop what is left.
    aborted: AtomicBool,
    pub abort_wake: Notify,
    /// The dispatcher counts as stuck when items wait and none was dispatched for this long.
    stuck_after: Duration,
}

/// The queue locked, for the driver to push a batch and collect what was taken.
pub(crate) struct Locked<'a>(MutexGuard<'a, State>);

impl Locked<'_> {
    /// Whether another item may be pushed.
    pub fn has_room(&self) -> bool {
        self.0.items.is_empty() || (self.0.items.len() < MAX_ITEMS && self.0.bytes < MAX_BYTES)
    }

    /// Whether there was room, then runs `f` on the state (the lock is released after).
    fn has_room_then(mut self, f: impl FnOnce(&mut State)) -> bool {
        let room = self.has_room();
        f(&mut self.0);
        room
    }

    /// Pushes an item whatever the bounds (the caller checked `has_room`, or is stopping
    /// and the core's own bounds apply); returns its position, or the item back when the
    /// queue is closed (the instance stopped: the caller counts it as dropped).
    #[allow(clippy::result_large_err, reason = "the item moves back to its caller, no allocation")]
    pub fn push(&mut self, item: Item) -> Result<u64, Item> {
        if self.0.closed {
            return Err(item);
        }
        if self.0.items.is_empty() {
            self.0.waiting_since = Some(Instant::now());
        }
        self.0.bytes += item.bytes();
        self.0.items.push_back(item);
        self.0.pushed += 1;
        Ok(self.0.pushed)
    }

    /// The reliable events taken since the last call.
    pub fn take_taken(&mut self, into: &mut Vec<Taken>) {
        into.append(&mut self.0.taken);
    }

    /// Whether the dispatcher waits for items: only then does a push need to wake it.
    pub fn dispatcher_idle(&self) -> bool {
        self.0.idle
    }
}

impl DeliveryQueue {
    pub fn new(stuck_after: Duration) -> Self {
        DeliveryQueue {
            state: Mutex::default(),
            ready: Condvar::new(),
            driver_wake: Notify::new(),
            progress: Notify::new(),
            done: AtomicU64::new(0),
            last_progress_ms: AtomicU64::new(0),
            base: Instant::now(),
            aborted: AtomicBool::new(false),
            abort_wake: Notify::new(),
            stuck_after,
        }
    }

    pub fn lock(&self) -> Locked<'_> {
        Locked(self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Wakes the dispatcher after pushes (only needed when it was idle: see
    /// `Locked::dispatcher_idle`; waking it needlessly costs a system call).
    pub fn notify_dispatcher(&self) {
        self.ready.notify_one();
    }

    /// Items dispatched so far (compare with a position from `push`).
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Acquire)
    }

    /// Whether items wait and the listeners have taken none for `stuck_after` (counted from
    /// the later of their last progress and the oldest item's arrival on an empty queue): a
    /// listener blocks, or a stream is not read.
    pub fn stuck(&self, now: Instant) -> bool {
        let (pushed, waiting_since) = {
            let l = self.lock();
            (l.0.pushed, l.0.waiting_since)
        };
        if self.done() >= pushed {
            return false;
        }
        let progress = self.base + Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed));
        let last = waiting_since.map_or(progress, |w| w.max(progress));
        now.saturating_duration_since(last) >= self.stuck_after
    }

    /// Waits for the next batch (the dispatcher thread); `None` once the queue is closed and
    /// empty, or aborted.
    pub fn pop_batch(&self, into: &mut Vec<Item>) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut yields = 0;
        loop {
            if self.is_aborted() {
                return false;
            }
            if !state.items.is_empty() {
                break;
            }
            if state.closed {
                return false;
            }
            if yields < YIELDS_BEFORE_SLEEP {
                // under load the driver hands over again within microseconds: give it the
                // core instead of a sleep and a wake-up (two context switches) per batch
                drop(state);
                std::thread::yield_now();
                yields += 1;
                state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.idle = true;
            state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
            state.idle = false;
        }
        let was_full = !Locked(state).has_room_then(|s| {
            let n = s.items.len().min(BATCH);
            for item in s.items.drain(..n) {
                into.push(item);
            }
            s.bytes -= into.iter().map(Item::bytes).sum::<usize>();
        });
        if was_full {
            // the driver may have events waiting for room
            self.driver_wake.notify_one();
        }
        true
    }

    /// The dispatcher finished `n` items; `taken` lists the reliable events among them.
    ///
    /// The driver collects what was taken whenever it hands over events, and on a short
    /// timer of its own while some is outstanding; it is not woken per batch, so that a busy
    /// pair does not wake each other thousands of times a second. (A queue that was full
    /// wakes it in `pop_batch`.)
    pub fn finish(&self, n: usize, taken: &mut Vec<Taken>) {
        if !taken.is_empty() {
            self.state.lock().unwrap_or_else(|p| p.into_inner()).taken.append(taken);
        }
        self.mark_progress(n);
    }

    /// Notes that `n` more items were dispatched.
    pub fn mark_progress(&self, n: usize) {
        self.last_progress_ms.store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.done.fetch_add(n as u64, Ordering::AcqRel);
        self.progress.notify_waiters();
    }

    /// Notes that the listeners are making progress (one event dispatched), without
    /// counting it done yet.
    pub fn touch(&self) {
        self.last_progress_ms.store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// No more items will come; the dispatcher ends after the last.
    pub fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.ready.notify_all();
    }

    /// Gives up on the listeners: the dispatcher drops what is left and ends. Returns how
    /// many items were dropped.
    pub fn abort(&self) -> usize {
        self.aborted.store(true, Ordering::Release);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let dropped = state.items.len();
        state.items.clear();
        state.bytes = 0;
        state.closed = true;
        drop(state);
        self.ready.notify_all();
        self.abort_wake.notify_waiters();
        dropped
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// Whether the queue is closed and everything in it was dispatched.
    pub fn drained(&self) -> bool {
        let state = self.lock();
        state.0.closed && state.0.items.is_empty() && self.done() >= state.0.pushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> Item {
        Item::Event { event: Event::local(name, &()).unwrap(), taken: None }
    }

    #[test]
    fn bounded_in_items_and_one_item_always_fits() {
        let q = DeliveryQueue::new(Duration::from_secs(1));
        let mut l = q.lock();
        let mut n = 0;
        while l.has_room() {
            assert!(l.push(event("x")).is_ok());
            n += 1;
        }
        assert_eq!(n, MAX_ITEMS);
        drop(l);
        let mut batch = Vec::new();
        assert!(q.pop_batch(&mut batch));
        assert_eq!(batch.len(), BATCH);
        assert!(q.lock().has_room());
    }

    #[test]
    fn stuck_only_while_items_wait_without_progress() {
        let q = DeliveryQueue::new(Duration::from_millis(0));
        assert!(!q.stuck(Instant::now()), "nothing waits");
        assert!(q.lock().push(event("x")).is_ok());
        assert!(q.stuck(Instant::now() + Duration::from_millis(1)));
        // a quiet spell is not stuck: the clock starts when an item arrives on an empty queue
        let mut q = DeliveryQueue::new(Duration::from_secs(1));
        q.base = Instant::now().checked_sub(Duration::from_secs(10)).expect("machine up for 10 s");
        assert!(q.lock().push(event("x")).is_ok());
        assert!(!q.stuck(Instant::now()), "just arrived after ten quiet seconds");
        assert!(q.stuck(Instant::now() + Duration::from_millis(1500)), "waited a second and more with no progress");
        let mut batch = Vec::new();
        q.pop_batch(&mut batch);
        q.finish(1, &mut vec![Taken { sender: 7, last_seq: 3, count: 1 }]);
        assert!(!q.stuck(Instant::now() + Duration::from_secs(5)));
        let mut taken = Vec::new();
        q.lock().take_taken(&mut taken);
        assert_eq!(taken, vec![Taken { sender: 7, last_seq: 3, count: 1 }]);
    }

    #[test]
    fn close_ends_the_dispatcher_after_the_last_item_and_abort_at_once() {
        let q = DeliveryQueue::new(Duration::from_secs(1));
        assert!(q.lock().push(event("a")).is_ok());
        q.close();
        let mut batch = Vec::new();
        assert!(q.pop_batch(&mut batch), "what was queued before the close still comes");
        q.finish(batch.len(), &mut Vec::new());
        assert!(q.drained());
        assert!(!q.pop_batch(&mut Vec::new()));
        assert!(q.lock().push(event("late")).is_err(), "closed: refused, for the caller to count");
        let q = DeliveryQueue::new(Duration::from_secs(1));
        assert!(q.lock().push(event("a")).is_ok());
        assert_eq!(q.abort(), 1);
        assert!(!q.pop_batch(&mut Vec::new()));
        assert!(q.lock().push(event("late")).is_err());
    }
}
