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

/// Why a payload is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// The name is empty or longer than [`MAX_NAME_LEN`] bytes.
    NameLength(usize),
    /// The name is not UTF-8, a length disagrees, or the arguments are not one BSON document.
    Malformed,
}

/// Where the parts of a valid payload are.
///
/// ```
/// use eventcast::proto::payload::{encode, PayloadView};
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
    /// Checks the framing of `bytes`: name length in range, UTF-8 name, and one BSON document
    /// whose length prefix matches the rest and which ends with a NUL byte. The document's
    /// elements are checked only when the arguments are read.
    pub fn parse(bytes: &[u8]) -> Result<Self, PayloadError> {
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
