//! The listeners of one instance and the dispatch of events to them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::pattern::Pattern;
use crate::event::{Event, Loss};

/// Identifies one listener, for [`crate::Eventcast::off`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub(crate) u64);

pub(crate) type Callback = Arc<dyn Fn(&Event) + Send + Sync>;
pub(crate) type LossCallback = Arc<dyn Fn(&Loss) + Send + Sync>;

pub(crate) enum Sink {
    Callback {
        f: Callback,
        once: bool,
    },
    /// A subscription; `until_stop` ones end when the instance stops.
    Stream {
        tx: mpsc::Sender<Event>,
        until_stop: bool,
    },
}

/// Where loss reports go.
pub(crate) enum LossSink {
    Callback(LossCallback),
    Stream { tx: mpsc::Sender<Loss>, until_stop: bool },
}

struct Entry {
    id: ListenerId,
    pattern: Pattern,
    sink: Sink,
}

/// Counters of what dispatch could not do at once.
#[derive(Debug, Default)]
pub(crate) struct DispatchCounters {
    /// Times delivery waited for a slow stream reader.
    pub stream_overflow: AtomicU64,
    /// Events a stream never got: the instance stopped while the stream was full and its
    /// reader did not read for the stuck timeout.
    pub stream_dropped: AtomicU64,
    /// Local copies of emitted events the listeners never got: they were stuck (took
    /// nothing for the stuck timeout) with the hand-over queue full, or the instance
    /// stopped before they took them.
    pub local_dropped: AtomicU64,
    /// Items dropped from the hand-over queue when the instance stopped with its listeners
    /// stuck.
    pub dispatch_abandoned: AtomicU64,
    /// Listener calls that panicked.
    pub listener_panics: AtomicU64,
}

/// Listeners in the order they were added.
#[derive(Default)]
pub(crate) struct Registry {
    next_id: u64,
    entries: Vec<Entry>,
    loss_sinks: Vec<(ListenerId, LossSink)>,
}

impl Registry {
    fn new_id(&mut self) -> ListenerId {
        self.next_id += 1;
        ListenerId(self.next_id)
    }

    pub fn add(&mut self, pattern: Pattern, sink: Sink) -> ListenerId {
        let id = self.new_id();
        self.entries.push(Entry { id, pattern, sink });
        id
    }

    pub fn add_loss(&mut self, sink: LossSink) -> ListenerId {
        let id = self.new_id();
        self.loss_sinks.push((id, sink));
        id
    }

    pub fn remove(&mut self, id: ListenerId) -> bool {
        let before = self.entries.len() + self.loss_sinks.len();
        self.entries.retain(|e| e.id != id);
        self.loss_sinks.retain(|(i, _)| *i != id);
        self.entries.len() + self.loss_sinks.len() != before
    }

    /// Hands `loss` to every loss stream and returns the loss callbacks to call.
    pub fn prepare_loss(&mut self, loss: &Loss, counters: &DispatchCounters) -> Vec<LossCallback> {
        let mut calls = Vec::new();
        self.loss_sinks.retain(|(_, sink)| match sink {
            LossSink::Callback(f) => {
                calls.push(f.clone());
                true
            }
            LossSink::Stream { tx, .. } => match tx.try_send(*loss) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    counters.stream_overflow.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            },
        });
        calls
    }

    /// Ends the subscriptions that last until the instance stops (their streams end once
    /// the dispatcher let go of them too); returns how many.
    pub fn end_run(&mut self) -> usize {
        let before = self.entries.len() + self.loss_sinks.len();
        self.entries.retain(|e| !matches!(e.sink, Sink::Stream { until_stop: true, .. }));
        self.loss_sinks.retain(|(_, s)| !matches!(s, LossSink::Stream { until_stop: true, .. }));
        before - self.entries.len() - self.loss_sinks.len()
    }

    /// Removes the listeners added with exactly `pattern`, or all when `None`; returns how many.
    pub fn remove_all(&mut self, pattern: Option<&str>) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| pattern.is_some_and(|p| e.pattern.as_str() != p));
        before - self.entries.len()
    }

    /// How many listeners an event called `name` reaches.
    pub fn listener_count(&self, name: &str) -> usize {
        self.entries.iter().filter(|e| e.pattern.matches(name)).count()
    }

    /// The distinct patterns that have listeners with how many each, in the order first added.
    pub fn pattern_counts(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for e in &self.entries {
            match counts.iter_mut().find(|(p, _)| p == e.pattern.as_str()) {
                Some((_, n)) => *n += 1,
                None => counts.push((e.pattern.as_str().to_owned(), 1)),
            }
        }
        counts
    }

    /// The distinct patterns that have listeners, in the order first added.
    pub fn event_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for e in &self.entries {
            if !names.iter().any(|n| n == e.pattern.as_str()) {
                names.push(e.pattern.as_str().to_owned());
            }
        }
        names
    }

    /// Listeners now (not loss listeners).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// [`Registry::prepare`] for several events in a row, under one lock: the callbacks go
    /// to `calls` tagged with their event's index. Stops after the first event that found
    /// a stream full, so that the caller waits for that stream before any later event
    /// reaches it (order is kept); returns how many events were prepared and the full
    /// streams.
    pub fn prepare_batch(
        &mut self,
        events: &[Event],
        calls: &mut Vec<(usize, Callback)>,
    ) -> (usize, Vec<mpsc::Sender<Event>>) {
        let mut full = Vec::new();
        for (i, event) in events.iter().enumerate() {
            self.prepare_into(event, |f| calls.push((i, f)), &mut full);
            if !full.is_empty() {
                return (i + 1, full);
            }
        }
        (events.len(), full)
    }

    /// Takes what must run for `event`: hands it to matching streams that have room, removes
    /// `once` listeners and closed streams; the callbacks go to `call` and the full streams
    /// to `full`, to be dealt with once the lock is gone.
    fn prepare_into(&mut self, event: &Event, mut call: impl FnMut(Callback), full: &mut Vec<mpsc::Sender<Event>>) {
        self.entries.retain(|e| {
            if !e.pattern.matches(event.name()) {
                return true;
            }
            match &e.sink {
                Sink::Callback { f, once } => {
                    call(f.clone());
                    !*once
                }
                Sink::Stream { tx, .. } => match tx.try_send(event.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        full.push(tx.clone());
                        true
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                },
            }
        });
    }
}

/// Calls one listener; a panic is caught, counted and logged, and the other listeners still run.
pub(crate) fn call_one(f: &Callback, event: &Event, counters: &DispatchCounters) {
    if catch_unwind(AssertUnwindSafe(|| f(event))).is_err() {
        counters.listener_panics.fetch_add(1, Ordering::Relaxed);
        tracing::error!(target: "eventcast", event = event.name(), "a listener panicked");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counting(n: &Arc<AtomicUsize>, once: bool) -> Sink {
        let n = n.clone();
        Sink::Callback {
            f: Arc::new(move |_| {
                n.fetch_add(1, Ordering::SeqCst);
            }),
            once,
        }
    }

    fn dispatch(r: &mut Registry, name: &str, c: &DispatchCounters) {
        let ev = Event::local(name, &()).unwrap();
        let mut calls = Vec::new();
        let (_, full) = r.prepare_batch(std::slice::from_ref(&ev), &mut calls);
        c.stream_overflow.fetch_add(full.len() as u64, Ordering::SeqCst);
        for (_, f) in calls {
            call_one(&f, &ev, c);
        }
    }

    #[test]
    fn on_once_off_and_counts() {
        let (mut r, c, n) = (Registry::default(), DispatchCounters::default(), Arc::new(AtomicUsize::new(0)));
        let a = r.add(Pattern::new("a").unwrap(), counting(&n, false));
        r.add(Pattern::new("a").unwrap(), counting(&n, true));
        r.add(Pattern::new("b.*").unwrap(), counting(&n, false));
        assert_eq!((r.listener_count("a"), r.listener_count("b.x"), r.listener_count("c")), (2, 1, 0));
        assert_eq!(r.event_names(), vec!["a", "b.*"]);
        dispatch(&mut r, "a", &c);
        dispatch(&mut r, "a", &c);
        assert_eq!(n.load(Ordering::SeqCst), 3);
        assert!(r.remove(a));
        assert!(!r.remove(a));
        dispatch(&mut r, "a", &c);
        assert_eq!(n.load(Ordering::SeqCst), 3);
        assert_eq!(r.remove_all(Some("b.*")), 1);
        assert_eq!(r.remove_all(None), 0);
    }

    #[test]
    fn full_stream_counts_and_panic_is_contained() {
        let (mut r, c, n) = (Registry::default(), DispatchCounters::default(), Arc::new(AtomicUsize::new(0)));
        let (tx, mut rx) = mpsc::channel(1);
        r.add(Pattern::any(), Sink::Stream { tx, until_stop: true });
        r.add(Pattern::any(), Sink::Callback { f: Arc::new(|_| panic!("listener bug")), once: false });
        r.add(Pattern::any(), counting(&n, false));
        dispatch(&mut r, "x", &c);
        dispatch(&mut r, "y", &c);
        assert_eq!(rx.try_recv().unwrap().name(), "x");
        assert_eq!(c.stream_overflow.load(Ordering::SeqCst), 1);
        assert_eq!(c.listener_panics.load(Ordering::SeqCst), 2);
        assert_eq!(n.load(Ordering::SeqCst), 2);
        drop(rx);
        dispatch(&mut r, "z", &c);
        assert_eq!(r.listener_count("z"), 2, "closed stream removed");
    }
}
