//! The hand-off of received events from the instance's dispatcher thread to the Python
//! delivery thread: a queue bounded in bytes, drained in batches with the GIL released
//! while waiting. When Python falls behind and the queue is full, the dispatcher waits, so
//! the instance's flow control slows the senders: nothing is dropped.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use eventcast::{Event, Loss};

/// One thing to deliver.
pub enum Item {
    Event(Event),
    Loss(Loss),
}

impl Item {
    fn cost(&self) -> usize {
        match self {
            Item::Event(ev) => ev.encoded_len() + 64,
            Item::Loss(_) => 64,
        }
    }
}

struct State {
    items: VecDeque<Item>,
    bytes: usize,
    closed: bool,
    full_waits: u64,
    local_dropped: u64,
}

/// The bounded queue between the dispatcher and Python.
pub struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    room: Condvar,
    max_bytes: usize,
}

impl Queue {
    /// A queue of at most `max_bytes` (one item larger than that still goes in alone).
    pub fn new(max_bytes: usize) -> Self {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
                full_waits: 0,
                local_dropped: 0,
            }),
            ready: Condvar::new(),
            room: Condvar::new(),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends, waiting while full (dropped only once the queue is closed: nobody reads).
    pub fn push(&self, item: Item) {
        let cost = item.cost();
        let mut s = self.lock();
        let mut counted = false;
        while !s.closed && !s.items.is_empty() && s.bytes + cost > self.max_bytes {
            if !counted {
                s.full_waits += 1;
                counted = true;
            }
            s = self.room.wait_timeout(s, Duration::from_millis(50)).unwrap_or_else(|p| p.into_inner()).0;
        }
        if s.closed {
            return;
        }
        self.append(s, item, cost);
    }

    /// Appends this instance's own event (the local copy of an `emit`) without waiting:
    /// the emitter may be the delivery thread itself. Past twice the bound it is dropped
    /// and counted instead (the callbacks are that far behind).
    pub fn push_local(&self, ev: Event) {
        let item = Item::Event(ev);
        let cost = item.cost();
        let mut s = self.lock();
        if s.closed {
            return;
        }
        if !s.items.is_empty() && s.bytes + cost > 2 * self.max_bytes {
            s.local_dropped += 1;
            return;
        }
        self.append(s, item, cost);
    }

    /// Appends under the lock, then wakes the taker if the queue was empty: it waits only
    /// on an empty queue, so one wake-up per batch, not per event.
    fn append(&self, mut s: MutexGuard<'_, State>, item: Item, cost: usize) {
        s.bytes += cost;
        s.items.push_back(item);
        let was_empty = s.items.len() == 1;
        drop(s);
        if was_empty {
            self.ready.notify_one();
        }
    }

    /// Own events dropped because the queue was twice full.
    pub fn local_dropped(&self) -> u64 {
        self.lock().local_dropped
    }

    /// Up to `max` items, waiting at most `timeout` for the first.
    pub fn take(&self, max: usize, timeout: Duration) -> Vec<Item> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        while s.items.is_empty() && !s.closed {
            let now = Instant::now();
            if now >= deadline {
                return Vec::new();
            }
            s = self.ready.wait_timeout(s, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        let n = s.items.len().min(max);
        let out: Vec<Item> = s.items.drain(..n).collect();
        s.bytes -= out.iter().map(Item::cost).sum::<usize>();
        drop(s);
        self.room.notify_all();
        out
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.lock().items.is_empty()
    }

    /// Times the dispatcher waited for Python to make room.
    pub fn full_waits(&self) -> u64 {
        self.lock().full_waits
    }

    /// Drops what waits and what comes, releases every waiter.
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        s.items.clear();
        s.bytes = 0;
        drop(s);
        self.room.notify_all();
        self.ready.notify_all();
    }
}
