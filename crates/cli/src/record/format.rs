//! How eventcast recordings use MCAP: what each channel and message holds.
//!
//! - One channel per event name: topic = the name, message encoding [`ENCODING`] (`"bson"`),
//!   no schema (BSON describes itself), channel metadata [`KIND_KEY`] = [`KIND_EVENT`].
//! - Each message: log time and publish time = the receive time (ns since the Unix epoch),
//!   and a BSON document `{sender: string (16 hex digits), seq: int64, source: string
//!   (absent for none), args: array}` whose `args` array *is* the event's argument document
//!   byte for byte (a BSON array is a document keyed "0", "1", …), so every BSON type
//!   survives and a reader gets the list with any BSON library.
//! - Losses the recorder saw: channel [`LOSS_TOPIC`] ([`KIND_KEY`] = [`KIND_LOSS`]), each
//!   message `{sender, first: int64, last: int64}`.
//! - Metadata records: [`META_START`] (version, host, network options, patterns, start
//!   time) first, [`META_END`] (counts, why it ended) when the file is closed.

use bson::{RawBsonRef, RawDocument, RawDocumentBuf, spec::ElementType};

/// Message encoding of every channel.
pub const ENCODING: &str = "bson";
/// Channel metadata key saying what a channel holds.
pub const KIND_KEY: &str = "eventcast.kind";
/// [`KIND_KEY`] of an event name's channel.
pub const KIND_EVENT: &str = "event";
/// [`KIND_KEY`] of the loss channel.
pub const KIND_LOSS: &str = "loss";
/// Topic of the loss channel.
pub const LOSS_TOPIC: &str = "eventcast:loss";
/// Name of the metadata record written when a file opens.
pub const META_START: &str = "eventcast";
/// Name of the metadata record written when a file closes.
pub const META_END: &str = "eventcast.end";
/// MCAP profile field (none of the registered profiles applies).
pub const PROFILE: &str = "";

/// The key of the arguments in an event message.
const ARGS_KEY: &str = "args";

/// One recorded event, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Event name (the channel's topic).
    pub name: String,
    /// Sender id, 16 hex digits.
    pub sender: String,
    /// The sender's sequence number.
    pub seq: u64,
    /// Source address, when the event came from the network.
    pub source: Option<String>,
    /// The argument document, byte for byte as received.
    pub args: Vec<u8>,
    /// Receive time, ns since the Unix epoch.
    pub time_ns: u64,
}

/// One recorded loss report.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedLoss {
    /// Sender id.
    pub sender: String,
    /// First lost sequence number.
    pub first: u64,
    /// Last lost sequence number (at least `first`).
    pub last: u64,
    /// When the recorder learned of it, ns since the Unix epoch.
    pub time_ns: u64,
}

/// The message body of an event: `args` must be a BSON document (the event's arguments).
pub fn encode_event(sender: &str, seq: u64, source: Option<&str>, args: &RawDocument) -> Vec<u8> {
    let mut doc = RawDocumentBuf::new();
    doc.append(bson::cstr!("sender"), sender);
    doc.append(bson::cstr!("seq"), seq as i64); // the bits: u64 sequence numbers read back exactly
    if let Some(source) = source {
        doc.append(bson::cstr!("source"), source);
    }
    doc.append(bson::cstr!("args"), RawBsonRef::Document(args));
    let mut bytes = doc.into_bytes();
    // The same bytes as an array: only the element's type differs. It is the last element:
    // type byte, key "args" and its NUL, the document, then the outer terminator.
    let type_at = bytes.len() - 1 - args.as_bytes().len() - (ARGS_KEY.len() + 1) - 1;
    debug_assert_eq!(bytes[type_at], ElementType::EmbeddedDocument as u8);
    bytes[type_at] = ElementType::Array as u8;
    bytes
}

/// The message body of a loss report.
pub fn encode_loss(sender: &str, first: u64, last: u64) -> Vec<u8> {
    let mut doc = RawDocumentBuf::new();
    doc.append(bson::cstr!("sender"), sender);
    doc.append(bson::cstr!("first"), first as i64); // the bits, as seq
    doc.append(bson::cstr!("last"), last as i64);
    doc.into_bytes()
}

/// Reads an event message body; the error names what is wrong.
pub fn decode_event(name: &str, body: &[u8], time_ns: u64) -> Result<Recorded, String> {
    let doc = RawDocument::from_bytes(body).map_err(|e| format!("not a BSON document ({e})"))?;
    let sender = string_field(doc, "sender")?;
    let seq = int_field(doc, "seq")? as u64;
    let source = match doc.get("source").map_err(|e| e.to_string())? {
        None => None,
        Some(RawBsonRef::String(s)) => Some(s.to_owned()),
        Some(other) => return Err(format!("\"source\" is {:?}, not a string", other.element_type())),
    };
    let args = match doc.get(ARGS_KEY).map_err(|e| e.to_string())? {
        Some(RawBsonRef::Array(a)) => a.as_bytes().to_vec(),
        Some(RawBsonRef::Document(d)) => d.as_bytes().to_vec(),
        Some(other) => return Err(format!("\"args\" is {:?}, not an array", other.element_type())),
        None => return Err("no \"args\"".into()),
    };
    // the arguments must be well-formed all the way down, as a receiver checks them
    check_document(RawDocument::from_bytes(&args).map_err(|e| e.to_string())?)?;
    Ok(Recorded { name: name.to_owned(), sender, seq, source, args, time_ns })
}

/// Reads a loss message body.
pub fn decode_loss(body: &[u8], time_ns: u64) -> Result<RecordedLoss, String> {
    let doc = RawDocument::from_bytes(body).map_err(|e| format!("not a BSON document ({e})"))?;
    let (first, last) = (int_field(doc, "first")? as u64, int_field(doc, "last")? as u64);
    if first > last {
        return Err(format!("a loss from {first} to {last}: first is after last"));
    }
    Ok(RecordedLoss { sender: string_field(doc, "sender")?, first, last, time_ns })
}

fn string_field(doc: &RawDocument, key: &str) -> Result<String, String> {
    match doc.get(key).map_err(|e| e.to_string())? {
        Some(RawBsonRef::String(s)) => Ok(s.to_owned()),
        Some(other) => Err(format!("{key:?} is {:?}, not a string", other.element_type())),
        None => Err(format!("no {key:?}")),
    }
}

fn int_field(doc: &RawDocument, key: &str) -> Result<i64, String> {
    match doc.get(key).map_err(|e| e.to_string())? {
        Some(RawBsonRef::Int64(n)) => Ok(n),
        Some(RawBsonRef::Int32(n)) => Ok(n.into()),
        Some(other) => Err(format!("{key:?} is {:?}, not an integer", other.element_type())),
        None => Err(format!("no {key:?}")),
    }
}

/// Walks every element, depth first without recursion (work bounded by the bytes: each
/// element consumes some), refusing nesting deeper than the library accepts.
fn check_document(doc: &RawDocument) -> Result<(), String> {
    const MAX_DEPTH: usize = 64;
    let mut stack = vec![(doc, 1usize)];
    while let Some((d, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(format!("arguments nested deeper than {MAX_DEPTH} levels"));
        }
        for element in d {
            let (_, value) = element.map_err(|e| format!("malformed arguments ({e})"))?;
            let inner = match value {
                RawBsonRef::Document(inner) => inner,
                RawBsonRef::Array(inner) => {
                    RawDocument::from_bytes(inner.as_bytes()).map_err(|e| format!("malformed arguments ({e})"))?
                }
                RawBsonRef::JavaScriptCodeWithScope(c) => c.scope,
                _ => continue,
            };
            stack.push((inner, depth + 1));
        }
    }
    Ok(())
}

/// Whether a channel's metadata marks it as an event channel (channels without the key
/// from other writers are taken as events when their encoding is BSON).
pub fn is_event_channel(metadata_kind: Option<&str>, encoding: &str) -> bool {
    match metadata_kind {
        Some(kind) => kind == KIND_EVENT,
        None => encoding == ENCODING,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{Bson, doc};

    #[test]
    fn events_read_back_byte_for_byte() {
        let args = bson::RawDocumentBuf::try_from(&doc! {"0": 1, "1": "two", "2": {"x": [1.5, null]}}).unwrap();
        let top = decode_event("n", &encode_event("s", u64::MAX, None, &args), 0).unwrap();
        assert_eq!(top.seq, u64::MAX);
        let body = encode_event("00000000000000ab", 7, Some("10.0.0.1:9000"), &args);
        let got = decode_event("n", &body, 5).unwrap();
        assert_eq!(got.args, args.as_bytes());
        assert_eq!(
            (got.sender.as_str(), got.seq, got.source.as_deref(), got.time_ns),
            ("00000000000000ab", 7, Some("10.0.0.1:9000"), 5)
        );
        // any BSON library reads args as a list
        let whole: bson::Document = bson::deserialize_from_slice(&body).unwrap();
        assert_eq!(whole.get_array("args").unwrap()[1], Bson::String("two".into()));
        let none = decode_event("n", &encode_event("s", 1, None, &args), 0).unwrap();
        assert_eq!(none.source, None);
    }

    #[test]
    fn losses_read_back() {
        let got = decode_loss(&encode_loss("ab", 3, 9), 1).unwrap();
        assert_eq!((got.sender.as_str(), got.first, got.last), ("ab", 3, 9));
        let edge = decode_loss(&encode_loss("ab", 0, u64::MAX), 1).unwrap();
        assert_eq!((edge.first, edge.last), (0, u64::MAX));
        assert!(decode_loss(&encode_loss("ab", 9, 3), 1).unwrap_err().contains("after"));
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        for body in [&b""[..], b"\x05\x00\x00\x00\x00", b"\xff\xff\xff\x7f", &[0u8; 40]] {
            assert!(decode_event("n", body, 0).is_err());
            let _ = decode_loss(body, 0);
        }
        let no_args = bson::serialize_to_vec(&doc! {"sender": "a", "seq": 1_i64}).unwrap();
        assert!(decode_event("n", &no_args, 0).unwrap_err().contains("args"));
        let bad_seq = bson::serialize_to_vec(&doc! {"sender": "a", "seq": "x", "args": []}).unwrap();
        assert!(decode_event("n", &bad_seq, 0).unwrap_err().contains("seq"));
    }

    #[test]
    fn wide_arguments_pass_and_deep_ones_are_refused() {
        let wide: bson::Document = (0..500).map(|i| (i.to_string(), Bson::Document(doc! {"x": [i]}))).collect();
        let wide = bson::RawDocumentBuf::try_from(&wide).unwrap();
        assert!(decode_event("n", &encode_event("s", 1, None, &wide), 0).is_ok());
        let mut deep = Bson::Int32(1);
        for _ in 0..70 {
            deep = Bson::Array(vec![deep]);
        }
        let deep = bson::RawDocumentBuf::try_from(&doc! {"0": deep}).unwrap();
        assert!(decode_event("n", &encode_event("s", 1, None, &deep), 0).unwrap_err().contains("deeper"));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = decode_event("n", &body, 0);
            let _ = decode_loss(&body, 0);
        }
    }
}
