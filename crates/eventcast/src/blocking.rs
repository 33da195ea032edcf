//! A blocking facade for programs without an async runtime: the same instance, every method
//! of [`crate::Eventcast`] with the `async` ones blocking.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;
use tracing::level_filters::LevelFilter;

use crate::emitter::{EventStream, ListenerId, LossStream};
use crate::error::{Error, Result};
use crate::event::{Event, Loss};
use crate::eventcast::State;
use crate::options::{Encryption, Options};
use crate::proto::DeliveryMode;
use crate::stats::Stats;

/// The builder of a [`blocking::Eventcast`](Eventcast): every setter of
/// [`crate::Builder`].
pub type Builder = crate::Builder<Eventcast>;

/// The same instance as [`crate::Eventcast`], with blocking methods. It runs its own
/// one-thread tokio runtime in the background (listeners run on the instance's dispatcher
/// thread, as with the async handle); do not call its blocking methods from async code.
///
/// ```no_run
/// use std::time::Duration;
/// let ec = eventcast::blocking::Eventcast::builder().port(9100).interface("127.0.0.1").build()?;
/// ec.on("ping", |ev| println!("ping from {}", ev.sender()))?;
/// let mut pongs = ec.subscribe("pong")?;
/// ec.start()?;
/// ec.emit("ping", &())?;
/// match pongs.recv_timeout(Duration::from_secs(1)) {
///     Ok(ev) => println!("pong: {:?}", ev.args_bson()?),
///     Err(e) => println!("no pong: {e}"),
/// }
/// ec.stop()?;
/// # Ok::<(), eventcast::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Eventcast {
    inner: crate::Eventcast,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Eventcast {
    /// A builder with every option at its default.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// An instance with these options, validated. Not started.
    pub fn with_options(options: Options) -> Result<Self> {
        Self::wrap(crate::Eventcast::with_options(options)?)
    }

    fn wrap(inner: crate::Eventcast) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("eventcast")
            .enable_all()
            .build()
            .map_err(Error::io("starting the background runtime"))?;
        Ok(Eventcast { inner, runtime: Arc::new(runtime) })
    }

    /// The async handle of the same instance.
    pub fn as_async(&self) -> &crate::Eventcast {
        &self.inner
    }

    /// See [`crate::Eventcast::options`].
    pub fn options(&self) -> &Options {
        self.inner.options()
    }

    /// See [`crate::Eventcast::start`].
    pub fn start(&self) -> Result<()> {
        self.runtime.block_on(self.inner.start())
    }

    /// See [`crate::Eventcast::stop`].
    pub fn stop(&self) -> Result<()> {
        self.runtime.block_on(self.inner.stop())
    }

    /// See [`crate::Eventcast::is_running`].
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// The current state (the async handle's [`state`](crate::Eventcast::state) also waits
    /// for changes).
    pub fn state(&self) -> State {
        *self.inner.state().borrow()
    }

    /// See [`crate::Eventcast::emit`].
    pub fn emit<A: Serialize + ?Sized>(&self, event: &str, args: &A) -> Result<()> {
        self.runtime.block_on(self.inner.emit(event, args))
    }

    /// See [`crate::Eventcast::emit_with`].
    pub fn emit_with<A: Serialize + ?Sized>(&self, event: &str, args: &A, mode: DeliveryMode) -> Result<()> {
        self.runtime.block_on(self.inner.emit_with(event, args, mode))
    }

    /// See [`crate::Eventcast::emit_bson`].
    pub fn emit_bson(&self, event: &str, args: Vec<bson::Bson>) -> Result<()> {
        self.runtime.block_on(self.inner.emit_bson(event, args))
    }

    /// See [`crate::Eventcast::emit_batch`].
    pub fn emit_batch<'a, A, I>(&self, events: I) -> Result<usize>
    where
        A: Serialize + ?Sized + 'a,
        I: IntoIterator<Item = (&'a str, &'a A)>,
    {
        self.runtime.block_on(self.inner.emit_batch(events))
    }

    /// See [`crate::Eventcast::try_emit`] (never blocks).
    pub fn try_emit<A: Serialize + ?Sized>(&self, event: &str, args: &A) -> Result<()> {
        self.inner.try_emit(event, args)
    }

    /// See [`crate::Eventcast::on`].
    pub fn on<F: Fn(&Event) + Send + Sync + 'static>(&self, event: &str, listener: F) -> Result<ListenerId> {
        self.inner.on(event, listener)
    }

    /// See [`crate::Eventcast::once`].
    pub fn once<F: Fn(&Event) + Send + Sync + 'static>(&self, event: &str, listener: F) -> Result<ListenerId> {
        self.inner.once(event, listener)
    }

    /// See [`crate::Eventcast::on_any`].
    pub fn on_any<F: Fn(&Event) + Send + Sync + 'static>(&self, listener: F) -> ListenerId {
        self.inner.on_any(listener)
    }

    /// See [`crate::Eventcast::on_loss`].
    pub fn on_loss<F: Fn(&Loss) + Send + Sync + 'static>(&self, listener: F) -> ListenerId {
        self.inner.on_loss(listener)
    }

    /// See [`crate::Eventcast::losses`]; read it with [`LossStream::blocking_recv`] or
    /// [`LossStream::recv_timeout`].
    pub fn losses(&self) -> LossStream {
        self.inner.losses()
    }

    /// See [`crate::Eventcast::subscribe`]; read it with [`EventStream::blocking_recv`] or
    /// [`EventStream::recv_timeout`].
    pub fn subscribe(&self, pattern: &str) -> Result<EventStream> {
        self.inner.subscribe(pattern)
    }

    /// See [`crate::Eventcast::subscribe_across_restarts`].
    pub fn subscribe_across_restarts(&self, pattern: &str) -> Result<EventStream> {
        self.inner.subscribe_across_restarts(pattern)
    }

    /// See [`crate::Eventcast::off`].
    pub fn off(&self, id: ListenerId) -> bool {
        self.inner.off(id)
    }

    /// See [`crate::Eventcast::remove_all_listeners`].
    pub fn remove_all_listeners(&self, event: Option<&str>) -> usize {
        self.inner.remove_all_listeners(event)
    }

    /// See [`crate::Eventcast::listener_count`].
    pub fn listener_count(&self, event: &str) -> usize {
        self.inner.listener_count(event)
    }

    /// See [`crate::Eventcast::event_names`].
    pub fn event_names(&self) -> Vec<String> {
        self.inner.event_names()
    }

    /// See [`crate::Eventcast::stats`].
    pub fn stats(&self) -> Stats {
        self.runtime.block_on(self.inner.stats())
    }

    /// See [`crate::Eventcast::console_addr`].
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.inner.console_addr()
    }

    /// See [`crate::Eventcast::local_addr`].
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr()
    }

    /// See [`crate::Eventcast::log_levels`].
    pub fn log_levels(&self) -> Vec<(&'static str, LevelFilter)> {
        self.inner.log_levels()
    }

    /// See [`crate::Eventcast::set_log_level`].
    pub fn set_log_level(&self, component: Option<&str>, level: LevelFilter) -> Result<()> {
        self.inner.set_log_level(component, level)
    }

    /// See [`crate::Eventcast::install_key`].
    pub fn install_key(&self, id: u8, key: &Encryption) -> Result<()> {
        self.inner.install_key(id, key)
    }

    /// See [`crate::Eventcast::use_key`].
    pub fn use_key(&self, id: u8) -> Result<()> {
        self.inner.use_key(id)
    }

    /// See [`crate::Eventcast::remove_key`].
    pub fn remove_key(&self, id: u8) -> Result<()> {
        self.inner.remove_key(id)
    }

    /// See [`crate::Eventcast::key_ids`].
    pub fn key_ids(&self) -> Option<(Vec<u8>, u8)> {
        self.inner.key_ids()
    }
}
