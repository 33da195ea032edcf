//! Received events and the encoding of arguments as BSON.

use std::fmt;
use std::net::SocketAddr;

use bson::{Bson, RawDocument};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::proto::payload::{self, PayloadView};

/// The random id an instance takes each time it starts.
///
/// ```
/// let id = eventcast::SenderId(0xab);
/// assert_eq!(id.to_string(), "00000000000000ab");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SenderId(pub u64);

impl serde::Serialize for SenderId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for SenderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Events of one sender that could not be repaired in time and were skipped, so that the
/// events after them could be delivered. Reported through [`crate::Eventcast::on_loss`] and
/// [`crate::Eventcast::losses`]; never silent.
///
/// ```
/// let loss = eventcast::Loss { sender: eventcast::SenderId(7), first: 10, last: 12 };
/// assert_eq!(loss.count(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Loss {
    /// The sender whose events were lost.
    pub sender: SenderId,
    /// Its first lost sequence number.
    pub first: u64,
    /// Its last lost sequence number (inclusive).
    pub last: u64,
}

impl Loss {
    /// How many events were lost (saturating: a range of every sequence number counts
    /// `u64::MAX`).
    pub fn count(&self) -> u64 {
        self.last.saturating_sub(self.first).saturating_add(1)
    }
}

impl Loss {
    /// The public form of the core's loss report.
    pub(crate) fn from_core(l: crate::proto::Loss) -> Self {
        Loss { sender: SenderId(l.sender), first: l.first, last: l.last }
    }
}

/// One event: its name, who sent it, and its arguments, decoded only when asked for.
///
/// ```
/// # use eventcast::Event;
/// let ev = Event::local("sensor.temp", &("kitchen", 21.5)).unwrap();
/// assert_eq!(ev.name(), "sensor.temp");
/// let (room, celsius): (String, f64) = ev.args().unwrap();
/// assert_eq!((room.as_str(), celsius), ("kitchen", 21.5));
/// assert_eq!(ev.arg::<f64>(1).unwrap(), 21.5);
/// ```
#[derive(Clone)]
pub struct Event {
    payload: Bytes,
    view: PayloadView,
    sender: SenderId,
    from: Option<SocketAddr>,
    seq: u64,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name())
            .field("sender", &self.sender)
            .field("from", &self.from)
            .field("seq", &self.seq)
            .field("args", &self.args_bson().unwrap_or_default())
            .finish()
    }
}

impl Event {
    pub(crate) fn new(payload: Bytes, view: PayloadView, sender: SenderId, from: Option<SocketAddr>, seq: u64) -> Self {
        Event { payload, view, sender, from, seq }
    }

    /// An event that did not come from the network (`sender` 0, no source address): what
    /// this instance's own listeners see for its own `emit`, and handy in tests.
    pub fn local<A: Serialize + ?Sized>(name: &str, args: &A) -> Result<Self> {
        let bytes = encode_event(name, args)?;
        Self::from_payload(bytes, SenderId(0), None, 0)
    }

    /// An event from a payload [`encode_event`] made (its arguments' depth already checked,
    /// so only the framing is read again).
    pub(crate) fn from_payload(bytes: Vec<u8>, sender: SenderId, from: Option<SocketAddr>, seq: u64) -> Result<Self> {
        let view = PayloadView::parse_framing(&bytes).map_err(|_| {
            Error::Encode(Box::new(bson::error::Error::from(std::io::Error::other("encoded event does not parse"))))
        })?;
        Ok(Event::new(Bytes::from(bytes), view, sender, from, seq))
    }

    /// The event name.
    pub fn name(&self) -> &str {
        self.view.name(&self.payload)
    }

    /// The sender's id; [`SenderId(0)`](SenderId) for [`Event::local`] events.
    pub fn sender(&self) -> SenderId {
        self.sender
    }

    /// The source address of the datagram; for this instance's own events, its socket's
    /// local address; `None` for [`Event::local`] events.
    pub fn from(&self) -> Option<SocketAddr> {
        self.from
    }

    /// The sender's sequence number of this event.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The arguments as the raw BSON document (keys `"0"`, `"1"`, …), without decoding.
    pub fn raw_args(&self) -> Result<&RawDocument> {
        RawDocument::from_bytes(self.view.args(&self.payload)).map_err(|e| self.decode_error::<Vec<Bson>>(e))
    }

    /// The arguments as BSON values, in order.
    pub fn args_bson(&self) -> Result<Vec<Bson>> {
        // element by element from the raw bytes: no intermediate Document (keys, map)
        let mut out = Vec::new();
        for element in self.raw_args()? {
            let (_, value) = element.map_err(|e| self.decode_error::<Vec<Bson>>(e))?;
            out.push(Bson::try_from(value).map_err(|e| self.decode_error::<Vec<Bson>>(e))?);
        }
        Ok(out)
    }

    /// The arguments as a Rust type: the inverse of [`Eventcast::emit`](crate::Eventcast::emit),
    /// so the type that was emitted reads back.
    ///
    /// The argument list reads as a tuple (`(String, f64)` for two arguments), a `Vec<T>`,
    /// or any `Deserialize` type that reads a sequence; when the event has exactly one
    /// argument, `T` may also be that argument's own type, so `emit("r", &reading)` reads
    /// back with `args::<Reading>()`. For one argument by position, see [`Event::arg`].
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Serialize, Deserialize, PartialEq, Debug)]
    /// struct Reading { room: String, celsius: f64 }
    /// let r = Reading { room: "kitchen".into(), celsius: 21.5 };
    /// let ev = eventcast::Event::local("reading", &r).unwrap();
    /// assert_eq!(ev.args::<Reading>().unwrap(), r);
    /// assert_eq!(ev.args::<(Reading,)>().unwrap().0, r);
    ///
    /// let ev = eventcast::Event::local("temp", &("kitchen", 21.5)).unwrap();
    /// let (room, celsius): (String, f64) = ev.args().unwrap();
    /// assert_eq!((room.as_str(), celsius), ("kitchen", 21.5));
    /// ```
    pub fn args<T: DeserializeOwned>(&self) -> Result<T> {
        let list = self.args_bson()?;
        let one = list.len() == 1;
        // the list as T first (T = Vec<_>, (A,), …); then, for one argument, that argument
        // as T (read again from the bytes: the failed attempt consumed the values)
        bson::deserialize_from_bson(Bson::Array(list)).or_else(|list_error| match one {
            true => self.arg::<T>(0),
            false => Err(self.decode_error::<T>(list_error)),
        })
    }

    /// Argument `index` (from 0) as a Rust type. An argument the event does not have reads
    /// as `None` for an `Option` (and `()` for unit); any other type gets
    /// [`Error::NoArgument`] ("event \"m\" has no argument 5 (the event has 1)").
    ///
    /// ```
    /// let ev = eventcast::Event::local("m", &("one",)).unwrap();
    /// assert_eq!(ev.arg::<String>(0).unwrap(), "one");
    /// assert_eq!(ev.arg::<Option<String>>(5).unwrap(), None);
    /// let err = ev.arg::<String>(5).unwrap_err();
    /// assert_eq!(err.to_string(), r#"event "m" has no argument 5 (the event has 1)"#);
    /// ```
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Result<T> {
        // Only this argument is decoded: the ones before it are skipped over as bytes, by
        // position, as `args_bson` reads them.
        let raw = self.raw_args()?;
        match raw.iter().nth(index) {
            Some(element) => {
                let (_, value) = element.map_err(|e| self.decode_error::<T>(e))?;
                let value = Bson::try_from(value).map_err(|e| self.decode_error::<T>(e))?;
                bson::deserialize_from_bson(value).map_err(|e| self.decode_error::<T>(e))
            }
            None => bson::deserialize_from_bson(Bson::Null).map_err(|_| Error::NoArgument {
                event: self.name().to_owned(),
                index,
                count: raw.iter().count(),
            }),
        }
    }

    /// How many arguments the event has (0 if they do not decode).
    ///
    /// ```
    /// assert_eq!(eventcast::Event::local("m", &(1, "two", 3.0)).unwrap().arg_count(), 3);
    /// assert_eq!(eventcast::Event::local("m", &()).unwrap().arg_count(), 0);
    /// ```
    pub fn arg_count(&self) -> usize {
        self.raw_args().map_or(0, |raw| raw.iter().count())
    }

    /// Size of the encoded event (name and arguments), in bytes.
    pub fn encoded_len(&self) -> usize {
        self.payload.len()
    }

    /// The event as one JSON object, the line `eventcast listen` and the console print:
    /// `{"event": NAME, "args": [...], "sender": ID, "from": ADDRESS}`, arguments as relaxed
    /// Extended JSON (`{"$date": …}` and so on), or `{"error": …}` if they do not decode.
    ///
    /// ```
    /// let ev = eventcast::Event::local("hi", &("there", 5)).unwrap();
    /// assert_eq!(ev.to_json()["args"], serde_json::json!(["there", 5]));
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        let args = match self.args_bson() {
            Ok(args) => Bson::Array(args).into_relaxed_extjson(),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        serde_json::json!({
            "event": self.name(),
            "args": args,
            "sender": self.sender().to_string(),
            "from": self.from().map(|a| a.to_string()),
        })
    }

    fn decode_error<T>(&self, source: bson::error::Error) -> Error {
        Error::Decode { event: self.name().to_owned(), ty: std::any::type_name::<T>(), source: Box::new(source) }
    }
}

/// Reads one argument typed as text, as the CLI and the console take them: JSON (Extended
/// JSON too, such as `{"$date": "2024-01-02T03:04:05Z"}`), or a plain string when the text
/// is not JSON at all.
///
/// ```
/// use eventcast::{arg_from_text, bson::Bson};
/// assert_eq!(arg_from_text("5").unwrap(), Bson::Int32(5));
/// assert_eq!(arg_from_text("two words").unwrap(), Bson::String("two words".into()));
/// assert!(arg_from_text(r#"{"$oid": 5}"#).is_err());
/// ```
pub fn arg_from_text(text: &str) -> Result<Bson> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(_) if let Some(n) = oversized_json_integer(text) => {
            let shown: String = n.chars().take(64).collect();
            Err(Error::invalid(
                "argument",
                shown,
                "integers are 64-bit signed (-9223372036854775808 to 9223372036854775807); quote it for a string, or write it with a decimal point or exponent for a double",
            ))
        }
        Ok(value) => Bson::try_from(value).map_err(|e| {
            let shown: String = text.chars().take(64).collect();
            Error::invalid(
                "argument",
                shown,
                format!(
                    "it is JSON but not valid Extended JSON ({e}); give valid Extended JSON, or text that is not JSON"
                ),
            )
        }),
        Err(_) => Ok(Bson::String(text.to_owned())),
    }
}

/// The first integer literal in the JSON `text` that a BSON integer cannot hold (beyond
/// 64 bits signed), which a JSON reader would otherwise turn silently into a double; `None`
/// if there is none. Numbers with a decimal point or an exponent are doubles and never
/// reported. `text` need not be valid JSON: strings are skipped, anything else scanned.
///
/// ```
/// assert_eq!(eventcast::oversized_json_integer(r#"[1, 12345678901234567890]"#), Some("12345678901234567890"));
/// assert_eq!(eventcast::oversized_json_integer(r#"[-9223372036854775808, 1.5e300, "99999999999999999999"]"#), None);
/// ```
pub fn oversized_json_integer(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let (mut i, mut in_string, mut escaped) = (0, false, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let starts_number = b.is_ascii_digit() || (b == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        let after_word = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if !starts_number || after_word {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < bytes.len() && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
            i += 1;
        }
        let literal = &text[start..i];
        if !literal.contains(['.', 'e', 'E']) && literal.parse::<i64>().is_err() {
            return Some(literal);
        }
    }
    None
}

/// Encodes `name` and `args` as an event payload. `args` is the argument list, as the
/// spread arguments of the original's `emit(name, ...args)`: a tuple or any sequence (array,
/// slice, `Vec`) gives one argument per element, `()` (or `None`) none, and any other value
/// (a struct, a map, a number, a string) one argument. See [`crate::Eventcast::emit`].
///
/// One serialization pass straight into the payload: `args` is serialized as the only
/// field of a wrapper document after the name. A BSON array is a document keyed "0", "1", …,
/// which is exactly the argument document, so a tuple's bytes are moved over the wrapper's
/// header; a single value is re-keyed "0"; null (`()`) becomes the empty document.
pub(crate) fn encode_event<A: Serialize + ?Sized>(name: &str, args: &A) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Wrapper<'a, A: ?Sized> {
        a: &'a A,
    }
    check_name(name)?;
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    let doc = out.len();
    bson::serialize_to_buffer(&Wrapper { a: args }, &mut out).map_err(|e| Error::Encode(Box::new(e)))?;
    // out[doc..] = len(4) type(1) "a\0"(2) value… 0x00
    const VALUE: usize = 4 + 1 + 2;
    match out[doc + 4] {
        // the array's own document, without the wrapper around it
        ARRAY => {
            let end = out.len() - 1;
            out.copy_within(doc + VALUE..end, doc);
            out.truncate(end - VALUE);
        }
        NULL => {
            out.truncate(doc);
            out.extend_from_slice(&EMPTY_DOCUMENT);
        }
        // the wrapper is already a one-field document of the same size: key "a" becomes "0"
        _ => out[doc + 5] = b'0',
    }
    if payload::check_args(&out[doc..]) == Err(payload::PayloadError::TooDeep) {
        return Err(Error::ArgumentsTooDeep { name: name.to_owned(), max: payload::MAX_ARG_DEPTH });
    }
    Ok(out)
}

/// BSON element types the encoder looks at.
const ARRAY: u8 = 0x04;
const NULL: u8 = 0x0A;
const EMPTY_DOCUMENT: [u8; 5] = [5, 0, 0, 0, 0];

/// Encodes `name` and a list of BSON values as an event payload.
pub(crate) fn encode_event_bson(name: &str, args: Vec<Bson>) -> Result<Vec<u8>> {
    encode_event(name, &args)
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    payload::check_name(name).map_err(|_| invalid_name(name))
}

fn invalid_name(name: &str) -> Error {
    Error::InvalidName { name: name.chars().take(64).collect(), len: name.len() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{
        Binary, DateTime, Decimal128, Document, JavaScriptCodeWithScope, Regex, Timestamp, doc, oid::ObjectId,
        spec::BinarySubtype,
    };

    /// One value of every BSON type.
    pub(crate) fn every_bson_type() -> Vec<Bson> {
        vec![
            Bson::Double(1.5),
            Bson::String("héllo".into()),
            Bson::Document(doc! { "a": 1, "nested": { "b": [1, 2] } }),
            Bson::Array(vec![Bson::Int32(1), Bson::String("two".into())]),
            Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 255] }),
            Bson::Binary(Binary { subtype: BinarySubtype::UserDefined(0x80), bytes: vec![9] }),
            Bson::Undefined,
            Bson::ObjectId(ObjectId::from_bytes([7; 12])),
            Bson::Boolean(true),
            Bson::DateTime(DateTime::from_millis(1_700_000_000_123)),
            Bson::Null,
            Bson::RegularExpression(Regex { pattern: "^a.*b$".try_into().unwrap(), options: "im".try_into().unwrap() }),
            Bson::JavaScriptCode("f()".into()),
            Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope { code: "g(x)".into(), scope: doc! { "x": 1 } }),
            Bson::Int32(-7),
            Bson::Timestamp(Timestamp { time: 5, increment: 6 }),
            Bson::Int64(1 << 40),
            Bson::Decimal128(Decimal128::from_bytes([3; 16])),
            Bson::MaxKey,
            Bson::MinKey,
            Bson::Symbol("sym".into()),
        ]
    }

    /// The argument document as the obvious (slower) way builds it.
    fn reference(args: Vec<Bson>) -> Vec<u8> {
        let mut doc = Document::new();
        for (i, value) in args.into_iter().enumerate() {
            doc.insert(i.to_string(), value);
        }
        let mut encoded = Vec::new();
        doc.to_writer(&mut encoded).unwrap();
        encoded
    }

    #[test]
    fn single_pass_encoding_matches_a_document_per_argument_list() {
        let args_of = |payload: Vec<u8>| payload[2 + 1..].to_vec();
        let all = every_bson_type();
        assert_eq!(args_of(encode_event_bson("e", all.clone()).unwrap()), reference(all.clone()));
        assert_eq!(args_of(encode_event("e", &()).unwrap()), reference(vec![]));
        assert_eq!(args_of(encode_event("e", &("a", 5i32)).unwrap()), reference(vec!["a".into(), Bson::Int32(5)]));
        assert_eq!(args_of(encode_event("e", &7i64).unwrap()), reference(vec![Bson::Int64(7)]));
        assert_eq!(args_of(encode_event("e", &doc! {"k": 1}).unwrap()), reference(vec![Bson::Document(doc! {"k": 1})]));
        for one in all {
            let wanted = match &one {
                Bson::Array(items) => reference(items.clone()),
                Bson::Null => reference(vec![]),
                other => reference(vec![other.clone()]),
            };
            assert_eq!(args_of(encode_event("e", &one).unwrap()), wanted, "{one:?}");
        }
    }

    #[test]
    fn every_bson_type_roundtrips() {
        let values = every_bson_type();
        let ev = Event::from_payload(encode_event_bson("all", values.clone()).unwrap(), SenderId(1), None, 0).unwrap();
        assert_eq!(ev.args_bson().unwrap(), values);
        // and through the serde path
        let ev = Event::local("all", &values).unwrap();
        assert_eq!(ev.args_bson().unwrap(), values);
    }

    #[test]
    fn argument_list_shapes() {
        assert_eq!(Event::local("e", &()).unwrap().args_bson().unwrap(), vec![]);
        assert_eq!(Event::local("e", "one").unwrap().args_bson().unwrap(), vec![Bson::String("one".into())]);
        assert_eq!(Event::local("e", &(vec![1, 2],)).unwrap().arg::<Vec<i32>>(0).unwrap(), vec![1, 2]);
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Reading {
            room: String,
            celsius: f64,
        }
        let r = Reading { room: "lab".into(), celsius: 4.0 };
        let ev = Event::local("e", &(&r, 3u8)).unwrap();
        let (back, n): (Reading, u8) = ev.args().unwrap();
        assert_eq!((back, n), (r, 3));
    }

    /// The rule, as documented on `emit`: a tuple or any sequence is the argument list (the
    /// original's `emit(name, ...args)`), `()`/`None` none, anything else one argument; and
    /// `args::<T>()` reads back the type that was emitted.
    #[test]
    fn emitted_values_read_back_by_their_type() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug, Clone)]
        struct Reading {
            room: String,
            celsius: f64,
        }
        let r = Reading { room: "lab".into(), celsius: 4.0 };
        let count = |ev: &Event| ev.arg_count();
        // a struct is one argument, and reads back as itself or as a 1-tuple
        let ev = Event::local("r", &r).unwrap();
        assert_eq!(count(&ev), 1);
        assert_eq!(ev.args::<Reading>().unwrap(), r);
        assert_eq!(ev.args::<(Reading,)>().unwrap().0, r);
        assert_eq!(ev.arg::<Reading>(0).unwrap(), r);
        // sequences spread: arrays, slices and Vecs give one argument per element
        assert_eq!(count(&Event::local("m", &[1, 2, 3]).unwrap()), 3);
        assert_eq!(count(&Event::local("m", &[1, 2, 3][..]).unwrap()), 3);
        let two = vec![r.clone(), r.clone()];
        let ev = Event::local("m", &two).unwrap();
        assert_eq!(count(&ev), 2);
        assert_eq!(ev.args::<Vec<Reading>>().unwrap(), two);
        // ... a one-element Vec reads back as the Vec, not as its element
        let ev = Event::local("m", &vec![7]).unwrap();
        assert_eq!(ev.args::<Vec<i32>>().unwrap(), vec![7]);
        assert_eq!(ev.args::<i32>().unwrap(), 7);
        // a sequence as one argument: a 1-tuple around it
        let ev = Event::local("m", &(vec![1, 2, 3],)).unwrap();
        assert_eq!(count(&ev), 1);
        assert_eq!(ev.args::<Vec<i32>>().unwrap(), vec![1, 2, 3]);
        assert_eq!(ev.args::<(Vec<i32>,)>().unwrap().0, vec![1, 2, 3]);
        // scalars and maps are one argument
        assert_eq!(count(&Event::local("m", &5).unwrap()), 1);
        assert_eq!(Event::local("m", &5).unwrap().args::<i64>().unwrap(), 5);
        assert_eq!(count(&Event::local("m", &std::collections::BTreeMap::from([("a", 1)])).unwrap()), 1);
        // nothing
        assert_eq!(count(&Event::local("m", &()).unwrap()), 0);
        assert_eq!(count(&Event::local("m", &None::<i32>).unwrap()), 0);
        assert_eq!(count(&Event::local("m", &Some(4)).unwrap()), 1);
        assert!(Event::local("m", &()).unwrap().args::<Vec<Bson>>().unwrap().is_empty());
    }

    #[test]
    fn integers_beyond_64_bits_are_refused_not_turned_into_doubles() {
        for text in ["12345678901234567890", "-9223372036854775809", "[1, {\"a\": 99999999999999999999999}]"] {
            let err = arg_from_text(text).unwrap_err().to_string();
            assert!(err.contains("64-bit signed"), "{text}: {err}");
        }
        assert_eq!(arg_from_text("9223372036854775807").unwrap(), Bson::Int64(i64::MAX));
        assert_eq!(arg_from_text("-9223372036854775808").unwrap(), Bson::Int64(i64::MIN));
        assert_eq!(arg_from_text("1.2345678901234567e19").unwrap(), Bson::Double(1.2345678901234567e19));
        assert_eq!(arg_from_text(r#""12345678901234567890""#).unwrap(), Bson::String("12345678901234567890".into()));
        assert_eq!(oversized_json_integer(r#"{"k\"12345678901234567890": 1}"#), None, "inside a string with an escape");
        assert_eq!(oversized_json_integer("[1e25, 2E+30, -0.5]"), None);
    }

    #[test]
    fn a_missing_argument_is_none_or_a_clear_error() {
        let ev = Event::local("m", &("one",)).unwrap();
        assert_eq!(ev.arg::<Option<String>>(5).unwrap(), None);
        assert_eq!(ev.arg::<Option<String>>(0).unwrap().as_deref(), Some("one"));
        let err = ev.arg::<String>(5).unwrap_err();
        assert!(matches!(err, Error::NoArgument { index: 5, count: 1, .. }), "{err:?}");
        assert_eq!(err.to_string(), r#"event "m" has no argument 5 (the event has 1)"#);
        // a present argument of the wrong type names the type
        let err = ev.arg::<u32>(0).unwrap_err().to_string();
        assert!(err.contains("\"m\"") && err.contains("u32") && err.contains("string"), "{err}");
    }

    /// Finding 2: arguments nesting past the limit are refused when emitted, with an error
    /// naming the event and the limit; at the limit they go through and decode.
    #[test]
    fn arguments_nest_at_most_the_limit() {
        let nest = |levels: usize| {
            let mut v = Bson::Int32(1);
            for _ in 0..levels {
                v = Bson::Array(vec![v]);
            }
            v
        };
        // the argument list is level 1, so the single argument may hold MAX - 1 more
        let ok = Event::local("deep", &(nest(payload::MAX_ARG_DEPTH - 1),)).unwrap();
        assert_eq!(ok.args_bson().unwrap().len(), 1);
        let err = Event::local("deep", &(nest(payload::MAX_ARG_DEPTH),)).unwrap_err();
        assert!(matches!(err, Error::ArgumentsTooDeep { max: 64, .. }), "{err}");
        assert!(err.to_string().contains("\"deep\"") && err.to_string().contains("64"), "{err}");
    }

    #[test]
    fn wrong_type_is_a_clear_error() {
        let ev = Event::local("temp", &("x",)).unwrap();
        let err = ev.args::<(u32,)>().unwrap_err().to_string();
        assert!(err.contains("temp") && err.contains("u32"), "{err}");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(matches!(Event::local("", &()), Err(Error::InvalidName { len: 0, .. })));
        assert!(matches!(Event::local(&"n".repeat(1025), &()), Err(Error::InvalidName { len: 1025, .. })));
    }
}
