//! The Node.js addon of eventcast: the Rust instance under the JavaScript `Eventcast`.
//!
//! The JavaScript package (`index.js`, `lib/`) keeps the original's API — an
//! `EventEmitter`, the original's options, the REPL — and encodes and decodes arguments with
//! the `bson` npm package, so every JavaScript and BSON type keeps its exact form. This
//! addon is what it stands on, kept small and byte-oriented:
//!
//! - [`NativeEventcast`] wraps one [`eventcast::Eventcast`]: `start`/`stop`/`stats` as
//!   Promises (on napi's tokio runtime), `trySend` (never blocks the event loop: it fails
//!   with `EC_BACKPRESSURE` when the instance cannot take more) and `send` (a Promise that
//!   waits for room) of an event whose arguments are already one BSON document.
//! - Received events and loss reports pass through an [`inbox::Inbox`]: the dispatcher
//!   thread appends records to one bounded buffer and wakes JavaScript once per batch;
//!   JavaScript takes the whole buffer (`take`) and decodes it (`lib/decode.js`).

#![deny(clippy::all)]

mod error;
mod inbox;
mod options;

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::error::{coded, to_napi};
use crate::inbox::{Inbox, Wake};
use crate::options::NodeOptions;

/// Wakes the JavaScript thread for a drain. Weak: it never keeps the process alive by
/// itself (a running instance does, from JavaScript, while it runs).
struct JsWake(ThreadsafeFunction<(), Unknown<'static>, (), Status, false, true>);

impl Wake for JsWake {
    fn wake(&self) {
        self.0.call((), ThreadsafeFunctionCallMode::NonBlocking);
    }
}

const DEFAULT_INBOX_BYTES: usize = 8 << 20;

/// One eventcast instance, driven from JavaScript (see the crate docs).
#[napi]
pub struct NativeEventcast {
    ec: eventcast::Eventcast,
    inbox: Arc<Inbox<JsWake>>,
}

#[napi]
impl NativeEventcast {
    /// Builds an instance from the normalized options (JSON) and a function called, on the
    /// JavaScript thread, whenever received events wait in the inbox.
    #[napi(constructor)]
    pub fn new(options_json: String, wake: Function<(), Unknown<'static>>) -> Result<Self> {
        let options: NodeOptions =
            serde_json::from_str(&options_json).map_err(|e| coded(format!("[EC_INVALID_OPTION] {e}")))?;
        let builder = options.builder().map_err(coded)?;
        let ec = builder.build().map_err(to_napi)?;
        if ec.options().log {
            install_log_subscriber();
        }
        let tsfn = wake.build_threadsafe_function::<()>().callee_handled::<false>().weak::<true>().build()?;
        let inbox = Arc::new(Inbox::new(options.inbox_bytes.unwrap_or(DEFAULT_INBOX_BYTES), JsWake(tsfn)));
        let events = inbox.clone();
        ec.on_any(move |ev| events.push_event(ev));
        let losses = inbox.clone();
        ec.on_loss(move |loss| losses.push_loss(loss));
        Ok(NativeEventcast { ec, inbox })
    }

    /// Starts the instance; resolves to `{ address, console }` once it is bound and ready.
    #[napi]
    pub async fn start(&self) -> Result<String> {
        self.ec.start().await.map_err(to_napi)?;
        Ok(serde_json::json!({
            "address": self.ec.local_addr().map(|a| a.to_string()),
            "console": self.ec.console_addr().map(|a| a.to_string()),
        })
        .to_string())
    }

    /// Stops the instance; resolves once it is stopped (listeners keep their registration).
    #[napi]
    pub async fn stop(&self) -> Result<()> {
        self.ec.stop().await.map_err(to_napi)
    }

    /// Whether the instance runs.
    #[napi]
    pub fn is_running(&self) -> bool {
        self.ec.is_running()
    }

    /// Hands an event to the instance without waiting: `EC_BACKPRESSURE` when it cannot
    /// take more now. `args` is the BSON document of arguments.
    #[napi]
    pub fn try_send(&self, name: String, args: &[u8], delivery: Option<String>) -> Result<()> {
        let mode = self.mode(delivery)?;
        self.ec.try_send_raw(&name, args, mode).map_err(to_napi)
    }

    /// Hands an event to the instance, waiting for room (a Promise).
    #[napi]
    pub async fn send(&self, name: String, args: Buffer, delivery: Option<String>) -> Result<()> {
        let mode = self.mode(delivery)?;
        self.ec.send_raw(&name, &args, mode).await.map_err(to_napi)
    }

    fn mode(&self, delivery: Option<String>) -> Result<eventcast::DeliveryMode> {
        match delivery {
            None => Ok(self.ec.options().delivery),
            Some(text) => options::delivery_mode(&text).map_err(coded),
        }
    }

    /// Everything received since the last call, as records (see `inbox`); `null` when
    /// nothing waits.
    #[napi]
    pub fn take(&self) -> Option<Buffer> {
        let bytes = self.inbox.take();
        (!bytes.is_empty()).then(|| bytes.into())
    }

    /// Every counter of the instance, as JSON (the last run's while stopped).
    #[napi]
    pub async fn stats(&self) -> Result<String> {
        let stats = self.ec.stats().await;
        let mut value = serde_json::to_value(&stats).map_err(|e| Error::from_reason(e.to_string()))?;
        if let Some(map) = value.as_object_mut() {
            map.insert("inbox_full_waits".into(), self.inbox.full_waits().into());
        }
        Ok(value.to_string())
    }

    /// Every logging component with its level (`[["eventcast", "info"], …]`, as JSON).
    #[napi]
    pub fn log_levels(&self) -> String {
        let levels: Vec<(&str, String)> =
            self.ec.log_levels().into_iter().map(|(c, l)| (c, l.to_string().to_lowercase())).collect();
        serde_json::to_string(&levels).unwrap_or_default()
    }

    /// Sets one component's level, or every component's when `component` is `null`.
    #[napi]
    pub fn set_log_level(&self, component: Option<String>, level: String) -> Result<()> {
        let filter = match level.to_ascii_lowercase().as_str() {
            "off" => tracing::level_filters::LevelFilter::OFF,
            other => options::log_level(other).map_err(coded)?.into(),
        };
        if filter != tracing::level_filters::LevelFilter::OFF {
            install_log_subscriber();
        }
        self.ec.set_log_level(component.as_deref(), filter).map_err(to_napi)
    }

    /// The options in force, as JSON (after defaults), for `config` and the REPL.
    #[napi]
    pub fn options_json(&self) -> String {
        let o = self.ec.options();
        serde_json::json!({
            "port": o.port,
            "group": o.group.to_string(),
            "interface": o.interface.to_string(),
            "loopback": o.loopback,
            "ttl": o.ttl,
            "maxPayloadSize": o.max_payload_size,
            "messageTtl": o.message_ttl.as_millis() as u64,
            "maxEventSize": o.max_event_size,
            "encrypted": o.encryption.is_some(),
        })
        .to_string()
    }

    /// Stops delivering to JavaScript for good (the object is going away).
    #[napi]
    pub fn close(&self) {
        self.inbox.close();
    }
}

/// Checks a listener pattern as the Rust core reads it; the message says what is wrong.
#[napi]
pub fn check_pattern(pattern: String) -> Result<()> {
    eventcast::Pattern::new(&pattern).map(|_| ()).map_err(to_napi)
}

/// Whether `name` matches `pattern`, as the Rust core decides it (the JavaScript matcher
/// is tested against this).
#[napi]
pub fn pattern_matches(pattern: String, name: String) -> Result<bool> {
    Ok(eventcast::Pattern::new(&pattern).map_err(to_napi)?.matches(&name))
}

/// Logs go to stderr, through one `tracing` subscriber for the process, installed the
/// first time an instance asks for logging.
fn install_log_subscriber() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(tracing::Level::TRACE).try_init();
    });
}
