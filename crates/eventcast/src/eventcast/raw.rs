//! Sending arguments that are already one BSON document, for language bindings whose own
//! BSON encoder made them (the Node and Python packages): no re-encoding, no local copy.

use super::Eventcast;
use crate::error::{Error, Result};
use crate::proto::DeliveryMode;
use crate::proto::payload::{self, PayloadError};

impl Eventcast {
    /// Sends `event` to the network with `args`, the argument list already encoded as one
    /// BSON document whose keys are `"0"`, `"1"`, … (as [`crate::Event::raw_args`] gives it).
    /// Unlike [`Eventcast::emit`], this instance's own listeners are **not** called: a
    /// binding that calls its own listeners itself uses this. The document is checked
    /// (well-formed, at most 64 levels deep) before anything is sent. Waits only when the
    /// instance cannot take more now (backpressure).
    ///
    /// ```no_run
    /// # async fn f(ec: eventcast::Eventcast) -> eventcast::Result<()> {
    /// let args = bson::serialize_to_vec(&bson::doc! { "0": "hello", "1": 42 }).unwrap();
    /// ec.send_raw("greet", &args, eventcast::DeliveryMode::Reliable).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_raw(&self, event: &str, args: &[u8], mode: DeliveryMode) -> Result<()> {
        let payload = raw_payload(event, args)?;
        let path = self.checked_send_path(event, &payload)?;
        path.emits.push_one(payload, mode).await.map_err(super::push_error)
    }

    /// [`Eventcast::send_raw`] that never waits: [`Error::Backpressure`] when the instance
    /// cannot take the event now (nothing is sent then; try again later).
    ///
    /// ```no_run
    /// # fn f(ec: eventcast::Eventcast) {
    /// let args = bson::serialize_to_vec(&bson::doc! { "0": "hello" }).unwrap();
    /// match ec.try_send_raw("greet", &args, eventcast::DeliveryMode::Reliable) {
    ///     Err(eventcast::Error::Backpressure) => { /* queue it and retry */ }
    ///     other => other.unwrap(),
    /// }
    /// # }
    /// ```
    pub fn try_send_raw(&self, event: &str, args: &[u8], mode: DeliveryMode) -> Result<()> {
        let payload = raw_payload(event, args)?;
        let path = self.checked_send_path(event, &payload)?;
        path.emits.try_push_one(payload, mode).map_err(super::push_error)
    }
}

/// The payload of `event` with the encoded `args`, checked as a received one would be.
fn raw_payload(event: &str, args: &[u8]) -> Result<Vec<u8>> {
    crate::event::check_name(event)?;
    match payload::check_args(args) {
        Ok(()) => {}
        Err(PayloadError::TooDeep) => {
            return Err(Error::ArgumentsTooDeep { name: event.to_owned(), max: payload::MAX_ARG_DEPTH });
        }
        Err(_) => return Err(Error::MalformedArguments { name: event.chars().take(64).collect(), len: args.len() }),
    }
    let mut out = Vec::new();
    payload::encode(event, args, &mut out)
        .map_err(|_| Error::InvalidName { name: event.chars().take(64).collect(), len: event.len() })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_payload_checks_what_a_receiver_checks() {
        let args = bson::serialize_to_vec(&bson::doc! { "0": "hello", "1": 42_i64 }).unwrap();
        let payload = raw_payload("greet", &args).unwrap();
        let view = payload::PayloadView::parse(&payload).unwrap();
        assert_eq!(view.name(&payload), "greet");
        assert_eq!(view.args(&payload), &args[..]);

        let err = raw_payload("greet", &[5, 0, 0, 0]).unwrap_err();
        assert!(matches!(err, Error::MalformedArguments { ref name, len: 4 } if name == "greet"), "{err}");
        let mut truncated = args.clone();
        truncated.pop();
        assert!(matches!(raw_payload("greet", &truncated), Err(Error::MalformedArguments { .. })));
        assert!(matches!(raw_payload("", &args), Err(Error::InvalidName { len: 0, .. })));

        let mut deep = bson::doc! {};
        for _ in 0..payload::MAX_ARG_DEPTH {
            deep = bson::doc! { "0": deep };
        }
        let deep = bson::serialize_to_vec(&deep).unwrap();
        assert!(matches!(raw_payload("deep", &deep), Err(Error::ArgumentsTooDeep { .. })));
    }
}
