//! Errors crossing into JavaScript: the message starts with `[CODE] `, which `lib/errors.js`
//! moves into the `Error`'s `code` property (`EC_NOT_RUNNING`, `EC_BACKPRESSURE`, …).

use eventcast::Error;

/// The stable code of an error of the library.
pub fn code(err: &Error) -> &'static str {
    match err {
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
        _ => "EC_ERROR",
    }
}

/// The library's error as a JavaScript one.
pub fn to_napi(err: Error) -> napi::Error {
    napi::Error::from_reason(format!("[{}] {err}", code(&err)))
}

/// An already coded message (`[CODE] …`) as a JavaScript error.
pub fn coded(message: String) -> napi::Error {
    napi::Error::from_reason(message)
}
