//! Errors crossing into JavaScript: the message starts with `[CODE] `, which `lib/errors.js`
//! moves into the `Error`'s `code` property (`EC_NOT_RUNNING`, `EC_BACKPRESSURE`, …).

use eventcast::Error;

/// The library's error as a JavaScript one.
pub fn to_napi(err: Error) -> napi::Error {
    napi::Error::from_reason(format!("[{}] {err}", err.code()))
}

/// An already coded message (`[CODE] …`) as a JavaScript error.
pub fn coded(message: String) -> napi::Error {
    napi::Error::from_reason(message)
}
