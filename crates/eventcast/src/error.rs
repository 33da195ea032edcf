//! The error type of every fallible public function.

use std::io;

/// Everything that can go wrong, each variant naming the bad value and what is allowed.
///
/// ```
/// let err = eventcast::Eventcast::builder().group("10.0.0.1").build().unwrap_err();
/// assert!(err.to_string().contains("10.0.0.1"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An option has a value that is not allowed.
    #[error("invalid {option} {value:?}: {allowed}")]
    InvalidOption {
        /// The option's name, as in the builder and the CLI.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is allowed instead.
        allowed: String,
    },
    /// An event name that is empty or too long.
    #[error("invalid event name {name:?} ({len} bytes): names are 1 to 1024 bytes of UTF-8")]
    InvalidName {
        /// The name (cut to 64 characters).
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A listener pattern that cannot be parsed.
    #[error("invalid pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The encoded event is larger than `max_event_size`.
    #[error("event {name:?} is {size} bytes encoded; max_event_size allows at most {max} bytes")]
    EventTooLarge {
        /// Event name.
        name: String,
        /// Encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// `emit` or `stats` on an instance that is not running.
    #[error("the instance is not running: call start() first (it may have been stopped)")]
    NotRunning,
    /// `try_emit` when the send queue or the retransmit buffer is full.
    #[error(
        "the instance cannot take more events right now (send queue or retransmit buffer full); retry, or use emit() which waits"
    )]
    Backpressure,
    /// `start` on an instance that is running.
    #[error("the instance is already running")]
    AlreadyRunning,
    /// The arguments nest too deeply (documents and arrays inside one another).
    #[error(
        "arguments of event {name:?} nest more than {max} levels deep (documents and arrays inside one another, the argument list counting as one); flatten them"
    )]
    ArgumentsTooDeep {
        /// Event name.
        name: String,
        /// The limit.
        max: usize,
    },
    /// Arguments handed over already encoded ([`crate::Eventcast::send_raw`]) are not one
    /// well-formed BSON document.
    #[error("arguments of event {name:?} ({len} bytes) are not one well-formed BSON document")]
    MalformedArguments {
        /// Event name (cut to 64 characters).
        name: String,
        /// Length of the bytes given.
        len: usize,
    },
    /// The arguments could not be encoded as BSON.
    #[error("arguments cannot be encoded as BSON: {0}")]
    Encode(#[source] Box<bson::error::Error>),
    /// The arguments could not be read as the type asked for.
    #[error("arguments of event {event:?} do not decode as {ty}: {source}")]
    Decode {
        /// Event name.
        event: String,
        /// The Rust type asked for.
        ty: &'static str,
        /// What the decoder said.
        #[source]
        source: Box<bson::error::Error>,
    },
    /// [`Event::arg`](crate::Event::arg) asked for an argument the event does not have (and
    /// the type asked for has no "absent" value, as `Option` has).
    #[error("event {event:?} has no argument {index} (the event has {count})")]
    NoArgument {
        /// Event name.
        event: String,
        /// The index asked for.
        index: usize,
        /// How many arguments the event has.
        count: usize,
    },
    /// A socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the addresses involved.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A stable code per kind of error (`EC_NOT_RUNNING`, `EC_BACKPRESSURE`, ...): what the
    /// language packages put in their errors' `code`.
    ///
    /// ```
    /// assert_eq!(eventcast::Error::NotRunning.code(), "EC_NOT_RUNNING");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidOption { .. } => "EC_INVALID_OPTION",
            Error::InvalidName { .. } => "EC_INVALID_NAME",
            Error::InvalidPattern { .. } => "EC_INVALID_PATTERN",
            Error::EventTooLarge { .. } => "EC_EVENT_TOO_LARGE",
            Error::NotRunning => "EC_NOT_RUNNING",
            Error::Backpressure => "EC_BACKPRESSURE",
            Error::AlreadyRunning => "EC_ALREADY_RUNNING",
            Error::ArgumentsTooDeep { .. } => "EC_ARGUMENTS_TOO_DEEP",
            Error::MalformedArguments { .. } => "EC_MALFORMED_ARGUMENTS",
            Error::Encode(_) | Error::Decode { .. } | Error::NoArgument { .. } => "EC_ENCODING",
            Error::Io { .. } => "EC_IO",
        }
    }

    pub(crate) fn invalid(option: &'static str, value: impl ToString, allowed: impl Into<String>) -> Self {
        Error::InvalidOption { option, value: value.to_string(), allowed: allowed.into() }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
