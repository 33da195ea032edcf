//! The dispatcher thread: runs the listeners of one running instance, apart from the
//! driver task, so that nothing a listener does (block, panic, run slowly, leave a stream
//! unread) keeps the driver from reading its socket, answering NACKs, sending heartbeats
//! and sending its own events.
//!
//! It is an OS thread rather than a task so that a listener blocking its thread cannot
//! block the runtime the driver runs on (a one-thread runtime included). It enters the
//! runtime, so listeners may `tokio::spawn`.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::runtime::Handle;

use super::Listeners;
use super::queue::{BATCH, DeliveryQueue, Item};
use crate::event::Event;
use crate::proto::Taken;

thread_local! {
    static DISPATCHER: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is a dispatcher thread (a listener runs on it): an `emit` from
/// a listener must not wait for its own local copy to be dispatched.
pub(crate) fn on_dispatcher_thread() -> bool {
    DISPATCHER.with(Cell::get)
}

/// Starts the dispatcher of one run.
pub(crate) fn spawn(
    listeners: Arc<Listeners>,
    queue: Arc<DeliveryQueue>,
    runtime: Handle,
    log: tracing::Dispatch,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("eventcast-dispatch".into()).spawn(move || {
        let _runtime = runtime.enter();
        let _log = tracing::dispatcher::set_default(&log);
        DISPATCHER.with(|d| d.set(true));
        run(&listeners, &queue, &runtime);
    })
}

fn run(listeners: &Listeners, queue: &DeliveryQueue, runtime: &Handle) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut events: Vec<Event> = Vec::with_capacity(BATCH);
    let mut taken = Vec::with_capacity(BATCH);
    let mut calls = Vec::new();
    let wait_full = |tx: &tokio::sync::mpsc::Sender<Event>, event: Event| send_or_abort(runtime, queue, tx, event);
    let aborted = || queue.is_aborted();
    let run = |events: &mut Vec<Event>, calls: &mut Vec<_>| {
        let done = listeners.dispatch_batch(events, calls, &wait_full, &|| queue.touch(), &aborted);
        let left = events.len() - done;
        events.clear();
        left
    };
    while queue.pop_batch(&mut batch) {
        let n = batch.len();
        let mut abandoned = 0;
        for item in batch.drain(..) {
            if abandoned > 0 {
                abandoned += 1;
                continue;
            }
            match item {
                Item::Event { event, taken: t } => {
                    events.push(event);
                    if let Some((sender, seq)) = t {
                        Taken::push(&mut taken, sender, seq);
                    }
                }
                Item::Loss(loss) => {
                    abandoned += run(&mut events, &mut calls);
                    match abandoned {
                        0 => listeners.dispatch_loss(&loss),
                        _ => abandoned += 1,
                    }
                }
            }
        }
        abandoned += run(&mut events, &mut calls);
        if abandoned > 0 {
            listeners.counters.dispatch_abandoned.fetch_add(abandoned as u64, Ordering::Relaxed);
        }
        queue.finish(n, &mut taken);
    }
    tracing::trace!(target: "eventcast", "dispatcher ended");
}

/// Waits for room in a full stream, unless the instance gives up on its listeners first;
/// false if the event did not go in.
fn send_or_abort(runtime: &Handle, queue: &DeliveryQueue, tx: &tokio::sync::mpsc::Sender<Event>, event: Event) -> bool {
    runtime.block_on(async {
        let aborted = queue.abort_wake.notified();
        tokio::pin!(aborted);
        aborted.as_mut().enable();
        if queue.is_aborted() {
            return false;
        }
        // an abort wins over room that appears at the same time
        tokio::select! {
            biased;
            () = aborted => false,
            sent = tx.send(event) => sent.is_ok(),
        }
    })
}
