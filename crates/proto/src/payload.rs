//! The event payload: name length, name, BSON arguments (`docs/PROTOCOL.md`, "Event payload").

use std::ops::Range;

/// Offset of the name length field.
pub const NAME_LEN: Range<usize> = 0..2;
/// Offset of the name.
pub const NAME: usize = 2;
/// The longest event name, in bytes.
pub const MAX_NAME_LEN: usize = 1024;
/// The smallest well-framed BSON document (`05 00 00 00 00`).
pub const MIN_BSON_DOC: usize = 5;
/// How deep arguments may nest: documents and arrays inside one another, the argument
/// list itself counting as the first level. BSON decoders (and serde) recurse once per
/// level, so a deeper event could exhaust a listener's stack; it is refused instead.
pub const MAX_ARG_DEPTH: usize = 64;

/// Why a payload is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// The name is empty or longer than [`MAX_NAME_LEN`] bytes.
    NameLength(usize),
    /// The name is not UTF-8, a length disagrees, or the arguments are not one BSON document.
    Malformed,
    /// The arguments nest deeper than [`MAX_ARG_DEPTH`] levels.
    TooDeep,
}

/// Checks, without recursion, that `doc` is a well-formed BSON document whose documents and
/// arrays nest at most [`MAX_ARG_DEPTH`] levels deep (`doc` itself is level 1). Every
/// element's framing is checked on the way; the work is one step per element.
///
/// ```
/// use eventcast_proto::payload::{check_args, PayloadError, MAX_ARG_DEPTH};
/// let mut doc = bson::doc! {};
/// for _ in 1..MAX_ARG_DEPTH { doc = bson::doc! { "0": doc }; }
/// assert_eq!(check_args(&bson::serialize_to_vec(&doc).unwrap()), Ok(()));
/// let deeper = bson::doc! { "0": doc };
/// assert_eq!(check_args(&bson::serialize_to_vec(&deeper).unwrap()), Err(PayloadError::TooDeep));
/// ```
pub fn check_args(doc: &[u8]) -> Result<(), PayloadError> {
    use bson::raw::{RawBsonRef, RawDocument};
    let root = RawDocument::from_bytes(doc).map_err(|_| PayloadError::Malformed)?;
    let mut stack = vec![root.iter_elements()];
    while let Some(level) = stack.last_mut() {
        let Some(element) = level.next() else {
            stack.pop();
            continue;
        };
        let value = element.and_then(|e| e.value()).map_err(|_| PayloadError::Malformed)?;
        let nested = match value {
            RawBsonRef::Document(d) => d.iter_elements(),
            RawBsonRef::Array(a) => a.iter_elements(),
            RawBsonRef::JavaScriptCodeWithScope(c) => c.scope.iter_elements(),
            _ => continue,
        };
        if stack.len() >= MAX_ARG_DEPTH {
            return Err(PayloadError::TooDeep);
        }
        stack.push(nested);
    }
    Ok(())
}

/// Where the parts of a valid payload are.
///
/// ```
/// use eventcast_proto::payload::{encode, PayloadView};
/// let empty_args = [5u8, 0, 0, 0, 0];
/// let mut buf = Vec::new();
/// encode("greet", &empty_args, &mut buf).unwrap();
/// let view = PayloadView::parse(&buf).unwrap();
/// assert_eq!(view.name(&buf), "greet");
/// assert_eq!(view.args(&buf), &empty_args);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadView {
    name: Range<usize>,
    args: Range<usize>,
}

impl PayloadView {
    /// Checks `bytes`: name length in range, UTF-8 name, and one well-formed BSON document of
    /// arguments nesting at most [`MAX_ARG_DEPTH`] levels ([`check_args`]), so that no
    /// reader of the arguments can be made to recurse without bound.
    pub fn parse(bytes: &[u8]) -> Result<Self, PayloadError> {
        let view = Self::parse_framing(bytes)?;
        check_args(view.args(bytes))?;
        Ok(view)
    }

    /// Checks the framing only (name, and the arguments' length prefix and final NUL), for
    /// payloads this crate encoded itself, whose arguments `emit` already checked.
    pub fn parse_framing(bytes: &[u8]) -> Result<Self, PayloadError> {
        if bytes.len() < NAME {
            return Err(PayloadError::Malformed);
        }
        let name_len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        if name_len == 0 || name_len > MAX_NAME_LEN {
            return Err(PayloadError::NameLength(name_len));
        }
        let name = NAME..NAME + name_len;
        let Some(name_bytes) = bytes.get(name.clone()) else {
            return Err(PayloadError::Malformed);
        };
        if std::str::from_utf8(name_bytes).is_err() {
            return Err(PayloadError::Malformed);
        }
        let args = name.end..bytes.len();
        let doc = &bytes[args.clone()];
        if doc.len() < MIN_BSON_DOC {
            return Err(PayloadError::Malformed);
        }
        let declared = u32::from_le_bytes([doc[0], doc[1], doc[2], doc[3]]) as usize;
        if declared != doc.len() || doc[doc.len() - 1] != 0 {
            return Err(PayloadError::Malformed);
        }
        Ok(PayloadView { name, args })
    }

    /// The event name.
    pub fn name<'a>(&self, bytes: &'a [u8]) -> &'a str {
        std::str::from_utf8(&bytes[self.name.clone()]).unwrap_or_default()
    }

    /// The BSON document of arguments.
    pub fn args<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[self.args.clone()]
    }
}

/// Checks an event name: 1 to [`MAX_NAME_LEN`] bytes.
pub fn check_name(name: &str) -> Result<(), PayloadError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(PayloadError::NameLength(name.len()));
    }
    Ok(())
}

/// Appends the payload for `name` and the BSON document `args` to `out`.
pub fn encode(name: &str, args: &[u8], out: &mut Vec<u8>) -> Result<(), PayloadError> {
    check_name(name)?;
    out.reserve(NAME + name.len() + args.len());
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(args);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EMPTY: [u8; 5] = [5, 0, 0, 0, 0];

    #[test]
    fn refuses_bad_names_and_framing() {
        let mut out = Vec::new();
        assert_eq!(encode("", &EMPTY, &mut out), Err(PayloadError::NameLength(0)));
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(encode(&long, &EMPTY, &mut out), Err(PayloadError::NameLength(1025)));
        assert!(out.is_empty());

        encode("a", &EMPTY, &mut out).unwrap();
        assert!(PayloadView::parse(&out).is_ok());
        assert_eq!(PayloadView::parse(&out[..out.len() - 1]), Err(PayloadError::Malformed));
        let mut bad_utf8 = out.clone();
        bad_utf8[2] = 0xff;
        assert_eq!(PayloadView::parse(&bad_utf8), Err(PayloadError::Malformed));
        let mut bad_len = out.clone();
        bad_len[3] = 6;
        assert_eq!(PayloadView::parse(&bad_len), Err(PayloadError::Malformed));
    }

    /// Nesting 6,000 levels (the report's 48 KB event) is refused without recursion, as
    /// arrays, documents or code-with-scope, and a deep document with a broken tail too.
    #[test]
    fn deep_arguments_are_refused_without_recursion() {
        for kind in [0x03u8, 0x04] {
            // {"0": {"0": … {} … }} built as bytes: each level is len, type, "0\0", inner, 0
            let mut doc = EMPTY.to_vec();
            for _ in 0..6_000 {
                let mut outer = Vec::with_capacity(doc.len() + 8);
                outer.extend_from_slice(&((doc.len() + 8) as u32).to_le_bytes());
                outer.extend_from_slice(&[kind, b'0', 0]);
                outer.extend_from_slice(&doc);
                outer.push(0);
                doc = outer;
            }
            assert_eq!(check_args(&doc), Err(PayloadError::TooDeep));
            let mut out = Vec::new();
            encode("deep", &doc, &mut out).unwrap();
            assert_eq!(PayloadView::parse(&out), Err(PayloadError::TooDeep));
        }
        let code = bson::Bson::JavaScriptCodeWithScope(bson::JavaScriptCodeWithScope {
            code: "x".into(),
            scope: bson::doc! { "a": { "b": 1 } },
        });
        let doc = bson::serialize_to_vec(&bson::doc! { "0": code }).unwrap();
        assert_eq!(check_args(&doc), Ok(()));
        let mut broken = bson::serialize_to_vec(&bson::doc! { "0": { "1": "x" } }).unwrap();
        let n = broken.len();
        broken[n - 8] = 0x7f; // the string's length, pointing past the end
        assert_eq!(check_args(&broken), Err(PayloadError::Malformed));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(v) = PayloadView::parse(&bytes) {
                let _ = (v.name(&bytes), v.args(&bytes));
            }
        }

        #[test]
        fn encode_parse_roundtrip(name in "[a-z.]{1,40}") {
            let mut out = Vec::new();
            encode(&name, &EMPTY, &mut out).unwrap();
            let v = PayloadView::parse(&out).unwrap();
            prop_assert_eq!(v.name(&out), name.as_str());
            prop_assert_eq!(v.args(&out), &EMPTY[..]);
        }
    }
}
