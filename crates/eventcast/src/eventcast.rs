//! The public handle: lifecycle, `emit`, and the Node-style listener API.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::instrument::WithSubscriber;

use crate::builder::Builder;
use crate::console::{self, Console, ConsoleCounters};
use crate::driver::echo_filter::{self, OwnMarker};
use crate::driver::emit_ring::{EmitRing, PushError};
use crate::driver::{socket, task};
use crate::emitter::dispatcher;
use crate::emitter::queue::{DeliveryQueue, Item};
use crate::emitter::{EventStream, ListenerId, Listeners, LossSink, LossStream, Pattern, Sink};
use crate::error::{Error, Result};
use crate::event::{self, Event, Loss, SenderId};
use crate::logging::LogLevels;
use crate::options::{Options, Validated};
use crate::proto::crypto::{Keyring, KeyringError};
use crate::proto::{DeliveryMode, Endpoint, Sealing};
use crate::stats::Stats;
use crate::transport::{Extra, TransportCounters};

mod raw;

/// Whether an instance is running, as seen through [`Eventcast::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started, or stopped.
    Stopped,
    /// Bound and joined; sending and receiving as `sender`.
    Running {
        /// The sender id of this run.
        sender: SenderId,
        /// The socket's local address.
        local: SocketAddr,
    },
}

struct Running {
    emits: Arc<EmitRing>,
    control: mpsc::UnboundedSender<task::Control>,
    task: JoinHandle<()>,
    /// The hand-over to this run's dispatcher thread.
    queue: Arc<DeliveryQueue>,
    sender: SenderId,
    local: SocketAddr,
}

struct Inner {
    config: Validated,
    /// The keys in force: starts as the options' key, changed by key rotation, kept across
    /// restarts.
    keyring: Mutex<Option<Keyring>>,
    listeners: Arc<Listeners>,
    running: Mutex<Option<Running>>,
    state: watch::Sender<State>,
    log: LogLevels,
    /// The console, once the first start opened it; it outlives stops so that its `start`
    /// command works.
    console: Mutex<Option<Console>>,
    console_counters: Arc<ConsoleCounters>,
    gate: std::sync::OnceLock<tracing::Dispatch>,
    /// The protocol counters of the last run, final (what `stats` gives while stopped).
    last_run: Mutex<crate::proto::ProtocolStats>,
    /// Counters of the transports (peers, NATS), across runs.
    transport_counters: Arc<TransportCounters>,
    /// Times an emit found the send queue full (see [`Stats::emit_waits`]), across runs.
    emit_waits: Arc<std::sync::atomic::AtomicU64>,
    /// Held by `start` and `stop` for their whole length.
    lifecycle: tokio::sync::Mutex<()>,
}

/// What `emit` needs of the running instance.
struct SendPath {
    emits: Arc<EmitRing>,
    queue: Arc<DeliveryQueue>,
    sender: SenderId,
    local: SocketAddr,
}

/// A handle that does not keep the instance alive (the console's).
#[derive(Clone)]
pub(crate) struct WeakEventcast(Weak<Inner>);

impl WeakEventcast {
    pub fn upgrade(&self) -> Option<Eventcast> {
        self.0.upgrade().map(|inner| Eventcast { inner })
    }
}

/// One node of the network event emitter. Cheap to clone: clones share the instance.
///
/// ```no_run
/// # async fn f() -> eventcast::Result<()> {
/// use eventcast::Eventcast;
/// let ec = Eventcast::builder().port(9000).interface("127.0.0.1").build()?;
/// ec.on("greet", |ev| println!("{} says {:?}", ev.sender(), ev.args::<String>()))?;
/// ec.start().await?;
/// ec.emit("greet", &("hello",)).await?;
/// ec.stop().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Eventcast {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Eventcast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eventcast")
            .field("group", &self.inner.config.destination)
            .field("state", &*self.inner.state.borrow())
            .finish()
    }
}

impl Eventcast {
    /// A builder with every option at its default.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// An instance with these options, validated. Not started.
    pub fn with_options(options: Options) -> Result<Self> {
        let log = LogLevels::new(options.log, options.log_level);
        let config = options.validate()?;
        Ok(Eventcast {
            inner: Arc::new(Inner {
                keyring: Mutex::new(config.keyring.clone()),
                config,
                listeners: Arc::default(),
                running: Mutex::new(None),
                state: watch::Sender::new(State::Stopped),
                log,
                console: Mutex::new(None),
                console_counters: Arc::default(),
                gate: std::sync::OnceLock::new(),
                last_run: Mutex::default(),
                transport_counters: Arc::default(),
                emit_waits: Arc::default(),
                lifecycle: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.inner.config.options
    }

    /// Binds the socket, joins the group and starts sending and receiving under a new
    /// random sender id. An instance can be started again after [`Eventcast::stop`].
    pub async fn start(&self) -> Result<()> {
        let _log = tracing::dispatcher::set_default(&self.gate());
        // one start or stop at a time (opening NATS and resolving peers take a while)
        let _lifecycle = self.inner.lifecycle.lock().await;
        if self.lock_running().is_some() {
            return Err(Error::AlreadyRunning);
        }
        let config = &self.inner.config;
        self.open_console()?;
        let sender = SenderId(rand::random::<u64>().max(1));
        let sealing = self.sealing();
        let own = OwnMarker::for_run(sender.0, sealing.as_ref());
        let transport = &config.options.transport;
        let socket = match transport.multicast {
            true => Some(socket::open(config, own)?),
            false => None,
        };
        let extra = Extra::open(
            transport,
            config.unicast_bind,
            config.nats_subject.clone(),
            None,
            &self.inner.transport_counters,
        )
        .await?;
        if let Some(peers) = extra.peer_socket()
            && let Err(e) = echo_filter::attach(&socket2::SockRef::from(peers), own)
        {
            tracing::debug!(target: "eventcast::net", error = %e, "no in-kernel filter for own datagrams on the peer socket");
        }
        let local = match (&socket, extra.peer_socket()) {
            (Some(s), _) | (None, Some(s)) => s.local_addr().map_err(Error::io("reading the socket's address"))?,
            (None, None) => crate::transport::NATS_SOURCE,
        };
        let seed = rand::random::<u64>();
        let emits = Arc::new(EmitRing::new(self.inner.emit_waits.clone()));
        let (control, control_rx) = mpsc::unbounded_channel();
        let mut core_config = config.options.endpoint_config(seed);
        core_config.receiver.confirm_taken = true;
        let queue = Arc::new(DeliveryQueue::new(core_config.sender.flow_timeout));
        dispatcher::spawn(self.inner.listeners.clone(), queue.clone(), tokio::runtime::Handle::current(), self.gate())
            .map_err(Error::io("starting the dispatcher thread"))?;
        let driver = task::Driver {
            core: Endpoint::with_sealing(core_config, sender.0, sealing),
            socket,
            destination: config.destination,
            extra,
            transport_counters: self.inner.transport_counters.clone(),
            emits: emits.clone(),
            pending: Default::default(),
            control: control_rx,
            queue: queue.clone(),
            send_errors: 0,
        };
        let task = tokio::spawn(driver.run().with_subscriber(self.gate()));
        *self.lock_running() = Some(Running { emits, control, task, queue, sender, local });
        self.inner.state.send_replace(State::Running { sender, local });
        tracing::info!(target: "eventcast", %sender, group = %config.destination, interface = %config.options.interface,
            multicast = transport.multicast, peers = transport.peers.len(), nats = transport.nats.is_some(), "started");
        Ok(())
    }

    /// Opens the console if the options ask for it and it is not open yet.
    fn open_console(&self) -> Result<()> {
        let o = &self.inner.config.options;
        let mut console = self.inner.console.lock().unwrap_or_else(|p| p.into_inner());
        if !o.repl || console.is_some() {
            return Ok(());
        }
        let opened = console::spawn(
            WeakEventcast(Arc::downgrade(&self.inner)),
            SocketAddr::new(o.repl_host, o.repl_port),
            o.repl_token.clone(),
            o.repl_max_clients,
            self.inner.console_counters.clone(),
            self.gate(),
        )?;
        tracing::info!(target: "eventcast::repl", addr = %opened.addr, "console listening (telnet or eventcast console)");
        if !o.repl_host.is_loopback() && o.repl_token.is_none() {
            tracing::warn!(target: "eventcast::repl", addr = %opened.addr, "the console is reachable from other hosts and has no token");
        }
        *console = Some(opened);
        Ok(())
    }

    /// The dispatcher that applies this instance's log levels, made once, at the first use
    /// (usually `start`, after the program installed its subscriber): making a `Dispatch`
    /// re-registers every callsite, too slow for each emit.
    fn gate(&self) -> tracing::Dispatch {
        self.inner.gate.get_or_init(|| self.inner.log.gate()).clone()
    }

    /// The console's address, once the first start opened it (`repl` in the options).
    ///
    /// ```no_run
    /// # async fn f() -> eventcast::Result<()> {
    /// let ec = eventcast::Eventcast::builder().interface("127.0.0.1").repl(true).build()?;
    /// ec.start().await?;
    /// println!("telnet {}", ec.console_addr().unwrap());
    /// # Ok(()) }
    /// ```
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.inner.console.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|c| c.addr)
    }

    /// The socket's local address while running.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match *self.inner.state.borrow() {
            State::Running { local, .. } => Some(local),
            State::Stopped => None,
        }
    }

    /// Every logging component with its level now, root first, as the original's
    /// `logLevel()` (see [`crate::LOG_COMPONENTS`]).
    ///
    /// ```
    /// use tracing::level_filters::LevelFilter;
    /// let ec = eventcast::Eventcast::builder().interface("127.0.0.1").build().unwrap();
    /// ec.set_log_level(Some("repl"), LevelFilter::DEBUG).unwrap();
    /// assert_eq!(ec.log_levels()[2], ("repl", LevelFilter::DEBUG));
    /// ec.set_log_level(None, LevelFilter::WARN).unwrap(); // every component
    /// assert!(ec.set_log_level(Some("disk"), LevelFilter::INFO).is_err());
    /// ```
    pub fn log_levels(&self) -> Vec<(&'static str, tracing::level_filters::LevelFilter)> {
        self.inner.log.get()
    }

    /// Sets the level of one component (`eventcast`, `net`, `repl`), or of all with `None`,
    /// as the original's `logLevel([component], level)`. Takes effect at once, in running
    /// tasks too. `LevelFilter::OFF` silences.
    pub fn set_log_level(&self, component: Option<&str>, level: tracing::level_filters::LevelFilter) -> Result<()> {
        self.inner.log.set(component, level)
    }

    /// The keys, a fresh random nonce base and a wall-clock reading for a new run.
    fn sealing(&self) -> Option<Sealing> {
        let keyring = self.inner.keyring.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Some(Sealing {
            keyring,
            nonce_base: rand::random::<u128>(),
            wall_clock: (std::time::Instant::now(), unix_ms),
            freshness: self.inner.config.options.freshness,
        })
    }

    /// Installs a key for decryption under `id` (replacing one with that id), as the first
    /// step of a rotation: install everywhere, then [`use_key`](Eventcast::use_key)
    /// everywhere, then [`remove_key`](Eventcast::remove_key) the old one. Needs encryption
    /// on in the options.
    pub fn install_key(&self, id: u8, key: &crate::Encryption) -> Result<()> {
        let key = key.key(id)?;
        self.change_keyring(|ring| {
            ring.install(key);
            Ok(())
        })
    }

    /// Makes an installed key the one that encrypts what this instance sends.
    pub fn use_key(&self, id: u8) -> Result<()> {
        self.change_keyring(|ring| ring.use_key(id))
    }

    /// Removes an installed key that is not the one in use.
    pub fn remove_key(&self, id: u8) -> Result<()> {
        self.change_keyring(|ring| ring.remove(id))
    }

    /// The installed key ids and the one in use; `None` when encryption is off. Never the keys.
    pub fn key_ids(&self) -> Option<(Vec<u8>, u8)> {
        let ring = self.inner.keyring.lock().unwrap_or_else(|p| p.into_inner());
        ring.as_ref().map(|r| (r.ids(), r.primary()))
    }

    fn change_keyring(&self, f: impl FnOnce(&mut Keyring) -> std::result::Result<(), KeyringError>) -> Result<()> {
        // Both locks are held until the driver has the new keyring, so that concurrent
        // changes reach it in the order they were made; the order (running, then keyring)
        // is the one `start` takes them in.
        let running = self.lock_running();
        let mut guard = self.inner.keyring.lock().unwrap_or_else(|p| p.into_inner());
        let ring = guard.as_mut().ok_or_else(|| {
            Error::invalid(
                "key",
                "<none>",
                "encryption is off for this instance: give a key or passphrase in the options",
            )
        })?;
        f(ring).map_err(|e| Error::invalid("key id", e.id(), e.to_string()))?;
        if let Some(r) = running.as_ref() {
            let _ = r.control.send(task::Control::SetKeyring(ring.clone()));
        }
        Ok(())
    }

    /// Sends what is queued, leaves the group and closes the socket, then lets the
    /// listeners take what was received before (unless they took nothing for
    /// `flow_timeout`: what is left is then dropped and counted in
    /// `stats().dispatch_abandoned`). Subscriptions made with [`Eventcast::subscribe`] and
    /// [`Eventcast::losses`] end (`recv` gives `None` once they are read to the end);
    /// callbacks and [`Eventcast::subscribe_across_restarts`] stay for the next start.
    /// Stopping a stopped instance does nothing.
    pub async fn stop(&self) -> Result<()> {
        let _lifecycle = self.inner.lifecycle.lock().await;
        let Some(running) = self.lock_running().take() else {
            return Ok(());
        };
        let (reply, done) = oneshot::channel();
        if running.control.send(task::Control::Stop(reply)).is_ok()
            && let Ok(last) = done.await
        {
            *self.inner.last_run.lock().unwrap_or_else(|p| p.into_inner()) = last;
        }
        let _ = running.task.await;
        self.let_listeners_finish(&running.queue).await;
        self.inner.listeners.with(|r| r.end_run());
        self.inner.state.send_replace(State::Stopped);
        let _log = tracing::dispatcher::set_default(&self.gate());
        tracing::info!(target: "eventcast", sender = %running.sender, "stopped");
        Ok(())
    }

    /// Waits until the dispatcher has handed everything queued to the listeners, or gives up
    /// on them when they are stuck.
    async fn let_listeners_finish(&self, queue: &DeliveryQueue) {
        loop {
            let progressed = queue.progress.notified();
            tokio::pin!(progressed);
            progressed.as_mut().enable();
            if queue.drained() {
                return;
            }
            if queue.stuck(std::time::Instant::now()) {
                let dropped = queue.abort() as u64;
                self.inner
                    .listeners
                    .counters
                    .dispatch_abandoned
                    .fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
                let _log = tracing::dispatcher::set_default(&self.gate());
                tracing::warn!(target: "eventcast", dropped, "stopping: the listeners took nothing for the stuck timeout; what they had not taken is dropped");
                return;
            }
            let _ = tokio::time::timeout(std::time::Duration::from_millis(50), progressed).await;
        }
    }

    /// Whether the instance is running.
    pub fn is_running(&self) -> bool {
        matches!(*self.inner.state.borrow(), State::Running { .. })
    }

    /// The current state, and a way to wait for changes (`changed().await`).
    pub fn state(&self) -> watch::Receiver<State> {
        self.inner.state.subscribe()
    }

    /// Sends `event` with `args` to every instance in the group, then calls this instance's
    /// own listeners, as the original does. `args` is the argument list, as the spread
    /// arguments of the original's `emit(name, ...args)`: a tuple or any sequence (array,
    /// slice, `Vec`) gives one argument per element, `()` (or `None`) none, and any other
    /// value (a struct, a map, a number, a string) one argument. To send a sequence as one
    /// argument, put it in a 1-tuple: `&(list,)`. [`Event::args`] reads back the type that
    /// was emitted.
    ///
    /// Uses the instance's delivery mode (reliable and ordered by default). Waits only when
    /// the send queue or the retransmit buffer is full (backpressure); fails with
    /// [`Error::NotRunning`] when stopped, [`Error::EventTooLarge`] above `max_event_size`.
    pub async fn emit<A: Serialize + ?Sized>(&self, event: &str, args: &A) -> Result<()> {
        self.emit_with(event, args, self.inner.config.options.delivery).await
    }

    /// [`Eventcast::emit`] with a delivery mode for this event only.
    pub async fn emit_with<A: Serialize + ?Sized>(&self, event: &str, args: &A, mode: DeliveryMode) -> Result<()> {
        let payload = event::encode_event(event, args)?;
        self.emit_payload(event, payload, mode, true).await
    }

    /// [`Eventcast::emit`] with arguments already as BSON values (every BSON type kept as is).
    pub async fn emit_bson(&self, event: &str, args: Vec<bson::Bson>) -> Result<()> {
        let payload = event::encode_event_bson(event, args)?;
        self.emit_payload(event, payload, self.inner.config.options.delivery, true).await
    }

    /// Emits many events at once: each `(name, args)` as [`Eventcast::emit`] would, in order,
    /// handed to the driver under one lock per batch instead of one per event: for producers
    /// with many events at a time. Every event is encoded and checked first; if one is bad
    /// (its name, its size), nothing is sent and the error names it. Returns how many were
    /// sent. Own listeners get their copies after the batch went out. If the instance stops
    /// (or this future is dropped) while the batch waits for room, the events queued so far
    /// are sent and the rest are not; the error is then [`Error::NotRunning`].
    ///
    /// ```no_run
    /// # async fn f(ec: eventcast::Eventcast) -> eventcast::Result<()> {
    /// let readings = [("temp", 21.5), ("temp", 21.7), ("humidity", 40.0)];
    /// let sent = ec.emit_batch(readings.iter().map(|(name, v)| (*name, v))).await?;
    /// assert_eq!(sent, 3);
    /// # Ok(()) }
    /// ```
    pub async fn emit_batch<'a, A, I>(&self, events: I) -> Result<usize>
    where
        A: Serialize + ?Sized + 'a,
        I: IntoIterator<Item = (&'a str, &'a A)>,
    {
        let path = self.send_path()?;
        let mode = self.inner.config.options.delivery;
        let mut batch = std::collections::VecDeque::new();
        let mut local = Vec::new();
        for (name, args) in events {
            let payload = event::encode_event(name, args)?;
            self.check_size(name, &payload)?;
            if let Some(ev) = self.local_copy(name, &payload, path.sender, path.local) {
                local.push(ev?);
            }
            batch.push_back((payload, mode));
        }
        let sent = batch.len();
        path.emits.push(batch).await.map_err(push_error)?;
        for ev in local {
            self.deliver_local(&path.queue, ev).await;
        }
        Ok(sent)
    }

    /// [`Eventcast::emit`] that never waits: [`Error::Backpressure`] when the instance
    /// cannot take the event now. Nothing is sent then; try again later.
    pub fn try_emit<A: Serialize + ?Sized>(&self, event: &str, args: &A) -> Result<()> {
        let payload = event::encode_event(event, args)?;
        let path = self.checked_send_path(event, &payload)?;
        let local_event = self.local_copy(event, &payload, path.sender, path.local).transpose()?;
        path.emits.try_push_one(payload, self.inner.config.options.delivery).map_err(push_error)?;
        if let Some(ev) = local_event {
            let mut queue = path.queue.lock();
            if !queue.has_room() {
                drop(queue);
                self.drop_local_copy(event);
            } else if queue.push(Item::Event { event: ev, taken: None }).is_ok() {
                drop(queue);
                path.queue.notify_dispatcher();
            } else {
                drop(queue);
                self.drop_local_copy(event);
            }
        }
        Ok(())
    }

    async fn emit_payload(&self, name: &str, payload: Vec<u8>, mode: DeliveryMode, local: bool) -> Result<()> {
        let path = self.checked_send_path(name, &payload)?;
        let local_event = if local { self.local_copy(name, &payload, path.sender, path.local) } else { None };
        path.emits.push_one(payload, mode).await.map_err(push_error)?;
        if let Some(ev) = local_event {
            self.deliver_local(&path.queue, ev?).await;
        }
        Ok(())
    }

    /// Hands the local copy of an emitted event to the dispatcher and waits until the
    /// listeners have had it, as the original's `emit` returns after calling them. It
    /// waits for room while the listeners make progress; when they are stuck (took
    /// nothing for `flow_timeout`) it stops waiting, and a copy that found no room is
    /// dropped and counted (`stats().local_dropped`). A listener that emits does not
    /// wait for its own copy.
    async fn deliver_local(&self, queue: &DeliveryQueue, ev: Event) {
        let in_listener = dispatcher::on_dispatcher_thread();
        let mut ev = Some(ev);
        let mut position = None;
        loop {
            let progressed = queue.progress.notified();
            tokio::pin!(progressed);
            progressed.as_mut().enable();
            if let Some(event) = ev.take() {
                let mut locked = queue.lock();
                if locked.has_room() {
                    match locked.push(Item::Event { event, taken: None }) {
                        Ok(p) => position = Some(p),
                        Err(item) => {
                            // the instance stopped under us
                            drop(locked);
                            return self.drop_local_copy(item.name());
                        }
                    }
                    drop(locked);
                    queue.notify_dispatcher();
                } else {
                    ev = Some(event);
                }
            }
            match position {
                None if in_listener || queue.stuck(std::time::Instant::now()) || queue.is_aborted() => {
                    return self.drop_local_copy(ev.as_ref().map_or("", |e| e.name()));
                }
                Some(_) if in_listener => return,
                Some(p) if queue.done() >= p || queue.is_aborted() || queue.stuck(std::time::Instant::now()) => return,
                _ => {}
            }
            let _ = tokio::time::timeout(std::time::Duration::from_millis(50), progressed).await;
        }
    }

    fn drop_local_copy(&self, name: &str) {
        self.inner.listeners.counters.local_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _log = tracing::dispatcher::set_default(&self.gate());
        tracing::warn!(target: "eventcast", event = name, "the local listeners are stuck: this event's local copy was dropped (sent to the network all the same)");
    }

    fn local_copy(&self, name: &str, payload: &[u8], sender: SenderId, local: SocketAddr) -> Option<Result<Event>> {
        (self.inner.listeners.any() && self.inner.listeners.with(|r| r.listener_count(name)) > 0)
            .then(|| Event::from_payload(payload.to_vec(), sender, Some(local), 0))
    }

    /// Calls `listener` whenever events of some sender could not be repaired and were
    /// skipped (see [`Loss`]).
    pub fn on_loss<F>(&self, listener: F) -> ListenerId
    where
        F: Fn(&Loss) + Send + Sync + 'static,
    {
        self.inner.listeners.with(|r| r.add_loss(LossSink::Callback(Arc::new(listener))))
    }

    /// Loss reports as an async stream; dropping it unsubscribes. It ends when the instance
    /// stops, as [`Eventcast::subscribe`] does.
    pub fn losses(&self) -> LossStream {
        let (tx, rx) = mpsc::channel(self.inner.config.options.stream_capacity);
        let id = self.inner.listeners.with(|r| r.add_loss(LossSink::Stream { tx, until_stop: true }));
        LossStream::new(rx, id, Arc::downgrade(&self.inner.listeners))
    }

    fn checked_send_path(&self, name: &str, payload: &[u8]) -> Result<SendPath> {
        self.check_size(name, payload)?;
        self.send_path()
    }

    fn check_size(&self, name: &str, payload: &[u8]) -> Result<()> {
        let max = self.inner.config.options.max_event_size;
        if payload.len() > max {
            return Err(Error::EventTooLarge { name: name.to_owned(), size: payload.len(), max });
        }
        Ok(())
    }

    fn send_path(&self) -> Result<SendPath> {
        let running = self.lock_running();
        let r = running.as_ref().ok_or(Error::NotRunning)?;
        Ok(SendPath { emits: r.emits.clone(), queue: r.queue.clone(), sender: r.sender, local: r.local })
    }

    /// Calls `listener` for every event named `event`, or matching it as a [`Pattern`]
    /// (`sensor.*`). Listeners run on the instance's dispatcher thread, one at a time, in
    /// the order added, inside the tokio runtime (so they may `tokio::spawn`). A slow one
    /// delays the events after it, and through flow control its senders, but never the
    /// protocol: the instance keeps sending, repairing and answering.
    pub fn on<F>(&self, event: &str, listener: F) -> Result<ListenerId>
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        self.add(event, Sink::Callback { f: Arc::new(listener), once: false })
    }

    /// Like [`Eventcast::on`], but the listener is removed after its first call.
    pub fn once<F>(&self, event: &str, listener: F) -> Result<ListenerId>
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        self.add(event, Sink::Callback { f: Arc::new(listener), once: true })
    }

    /// Calls `listener` for every event, whatever its name.
    pub fn on_any<F>(&self, listener: F) -> ListenerId
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        let sink = Sink::Callback { f: Arc::new(listener), once: false };
        self.inner.listeners.with(|r| r.add(Pattern::any(), sink))
    }

    /// The events matching `pattern` as an async stream; dropping it unsubscribes.
    ///
    /// It lasts for one run: made while running, until the next [`Eventcast::stop`]; made
    /// while stopped, through the next run. When the instance stops, it gives what was
    /// received before the stop, then `None`. A slow reader slows its senders (flow
    /// control) but never the instance: see `stream_capacity`.
    ///
    /// ```no_run
    /// # async fn f(ec: eventcast::Eventcast) -> eventcast::Result<()> {
    /// let mut all = ec.subscribe("**")?;
    /// ec.start().await?;
    /// while let Some(ev) = all.recv().await {
    ///     println!("{}", ev.name()); // ends when something calls ec.stop()
    /// }
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self, pattern: &str) -> Result<EventStream> {
        self.subscribe_for(pattern, true)
    }

    /// [`Eventcast::subscribe`] for as long as the instance exists: the stream waits
    /// through stops and restarts, and ends only when the instance is dropped (or the
    /// stream is).
    pub fn subscribe_across_restarts(&self, pattern: &str) -> Result<EventStream> {
        self.subscribe_for(pattern, false)
    }

    fn subscribe_for(&self, pattern: &str, until_stop: bool) -> Result<EventStream> {
        let (tx, rx) = mpsc::channel(self.inner.config.options.stream_capacity);
        let id = self.add(pattern, Sink::Stream { tx, until_stop })?;
        Ok(EventStream::new(rx, id, Arc::downgrade(&self.inner.listeners)))
    }

    /// Removes one listener; false if it was already gone.
    pub fn off(&self, id: ListenerId) -> bool {
        self.inner.listeners.with(|r| r.remove(id))
    }

    /// Removes the listeners added with exactly this name or pattern, or every listener when
    /// `None`. Returns how many were removed.
    pub fn remove_all_listeners(&self, event: Option<&str>) -> usize {
        self.inner.listeners.with(|r| r.remove_all(event))
    }

    /// How many listeners an event called `event` would reach.
    pub fn listener_count(&self, event: &str) -> usize {
        self.inner.listeners.with(|r| r.listener_count(event))
    }

    /// The names and patterns that have listeners.
    pub fn event_names(&self) -> Vec<String> {
        self.inner.listeners.with(|r| r.event_names())
    }

    /// A snapshot of the counters. While stopped, the protocol part is the last run's final
    /// counters (everything it sent and received, up to its stop), zero before the first run;
    /// each run counts from zero.
    pub async fn stats(&self) -> Stats {
        let control = self.lock_running().as_ref().map(|r| r.control.clone());
        let last_run = || self.inner.last_run.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let protocol = match control {
            Some(control) => {
                let (reply, rx) = oneshot::channel();
                match control.send(task::Control::Stats(reply)) {
                    Ok(()) => rx.await.unwrap_or_else(|_| last_run()),
                    Err(_) => last_run(),
                }
            }
            None => last_run(),
        };
        let mut stats = Stats::new(
            protocol,
            &self.inner.listeners.counters,
            &self.inner.console_counters,
            &self.inner.transport_counters,
        );
        stats.emit_waits = self.inner.emit_waits.load(std::sync::atomic::Ordering::Relaxed);
        stats
    }

    /// Each pattern that has listeners, with how many.
    pub(crate) fn listener_table(&self) -> Vec<(String, usize)> {
        self.inner.listeners.with(|r| r.pattern_counts())
    }

    fn add(&self, pattern: &str, sink: Sink) -> Result<ListenerId> {
        let pattern = Pattern::new(pattern)?;
        Ok(self.inner.listeners.with(|r| r.add(pattern, sink)))
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.inner.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The error an emit gets when the send queue refused its event.
pub(super) fn push_error(e: PushError) -> Error {
    match e {
        PushError::Full => Error::Backpressure,
        PushError::Closed => Error::NotRunning,
    }
}
