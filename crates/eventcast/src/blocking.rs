//! A blocking facade for programs without an async runtime.

use std::sync::Arc;

use serde::Serialize;

use crate::emitter::{EventStream, ListenerId};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::options::Options;
use crate::stats::Stats;

/// The same instance as [`crate::Eventcast`], with blocking methods. It runs its own
/// one-thread tokio runtime in the background; do not call it from async code.
///
/// ```no_run
/// let ec = eventcast::blocking::Eventcast::builder().interface("127.0.0.1").build().unwrap();
/// ec.on("ping", |ev| println!("ping from {}", ev.sender())).unwrap();
/// ec.start().unwrap();
/// ec.emit("ping", &()).unwrap();
/// ec.stop().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Eventcast {
    inner: crate::Eventcast,
    runtime: Arc<tokio::runtime::Runtime>,
}

/// Builds a [`blocking::Eventcast`](Eventcast).
#[derive(Debug, Default)]
#[must_use]
pub struct Builder(crate::Builder);

impl Builder {
    /// Applies any [`crate::Builder`] setter: `.with(|b| b.port(9100))`.
    pub fn with(self, f: impl FnOnce(crate::Builder) -> crate::Builder) -> Self {
        Builder(f(self.0))
    }

    /// Shorthand for the interface, the option most programs set.
    pub fn interface(self, interface: &str) -> Self {
        Builder(self.0.interface(interface))
    }

    /// Validates the options and makes the instance.
    pub fn build(self) -> Result<Eventcast> {
        Eventcast::wrap(self.0.build()?)
    }
}

impl Eventcast {
    /// A builder with every option at its default.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// An instance with these options.
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

    /// See [`crate::Eventcast::start`].
    pub fn start(&self) -> Result<()> {
        self.runtime.block_on(self.inner.start())
    }

    /// See [`crate::Eventcast::stop`].
    pub fn stop(&self) -> Result<()> {
        self.runtime.block_on(self.inner.stop())
    }

    /// See [`crate::Eventcast::emit`].
    pub fn emit<A: Serialize + ?Sized>(&self, event: &str, args: &A) -> Result<()> {
        self.runtime.block_on(self.inner.emit(event, args))
    }

    /// See [`crate::Eventcast::on`].
    pub fn on<F: Fn(&Event) + Send + Sync + 'static>(&self, event: &str, listener: F) -> Result<ListenerId> {
        self.inner.on(event, listener)
    }

    /// See [`crate::Eventcast::once`].
    pub fn once<F: Fn(&Event) + Send + Sync + 'static>(&self, event: &str, listener: F) -> Result<ListenerId> {
        self.inner.once(event, listener)
    }

    /// See [`crate::Eventcast::off`].
    pub fn off(&self, id: ListenerId) -> bool {
        self.inner.off(id)
    }

    /// See [`crate::Eventcast::subscribe`]; read it with [`EventStream::blocking_recv`].
    pub fn subscribe(&self, pattern: &str) -> Result<EventStream> {
        self.inner.subscribe(pattern)
    }

    /// See [`crate::Eventcast::listener_count`].
    pub fn listener_count(&self, event: &str) -> usize {
        self.inner.listener_count(event)
    }

    /// See [`crate::Eventcast::stats`].
    pub fn stats(&self) -> Stats {
        self.runtime.block_on(self.inner.stats())
    }

    /// See [`crate::Eventcast::console_addr`].
    pub fn console_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.console_addr()
    }

    /// See [`crate::Eventcast::set_log_level`].
    pub fn set_log_level(&self, component: Option<&str>, level: tracing::level_filters::LevelFilter) -> Result<()> {
        self.inner.set_log_level(component, level)
    }
}
