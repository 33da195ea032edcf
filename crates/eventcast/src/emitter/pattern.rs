//! Event-name patterns: `sensor.*`, `**.error`, `node-*.status`.

use std::fmt;

use crate::error::{Error, Result};

/// Which event names a listener hears.
///
/// Names are split at dots into segments. In a pattern, a segment `**` matches any number of
/// segments (including none), and `*` inside a segment matches any run of characters within
/// that one segment. A pattern without `*` matches exactly its own name; `**` alone matches
/// every name.
///
/// ```
/// use eventcast::Pattern;
/// let p = Pattern::new("sensor.*").unwrap();
/// assert!(p.matches("sensor.temp"));
/// assert!(!p.matches("sensor.temp.cpu"));
/// assert!(Pattern::new("sensor.**").unwrap().matches("sensor.temp.cpu"));
/// assert!(Pattern::new("node-*.up").unwrap().matches("node-7.up"));
/// assert!(Pattern::new("**").unwrap().matches("anything.at.all"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Option<Vec<String>>,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Pattern {
    /// Parses a pattern; the rules for names apply (1 to 1024 bytes).
    pub fn new(text: &str) -> Result<Self> {
        crate::event::check_name(text).map_err(|_| Error::InvalidPattern {
            pattern: text.chars().take(64).collect(),
            reason: "patterns are 1 to 1024 bytes, like event names",
        })?;
        let segments = text.contains('*').then(|| text.split('.').map(str::to_owned).collect::<Vec<_>>());
        if let Some(segs) = &segments {
            if segs.iter().any(|s| s.contains("**") && s != "**") {
                return Err(Error::InvalidPattern {
                    pattern: text.to_owned(),
                    reason: "`**` must be a whole segment, as in `a.**` or `**.b`",
                });
            }
        }
        Ok(Pattern { text: text.to_owned(), segments })
    }

    /// The pattern matching every name.
    pub fn any() -> Self {
        Pattern { text: "**".into(), segments: Some(vec!["**".into()]) }
    }

    /// The text the pattern was made from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether an event called `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let Some(pattern) = &self.segments else {
            return self.text == name;
        };
        let names: Vec<&str> = name.split('.').collect();
        // reach[j]: the pattern so far can match the first j name segments.
        let mut reach = vec![false; names.len() + 1];
        reach[0] = true;
        for seg in pattern {
            let mut next = vec![false; names.len() + 1];
            if seg == "**" {
                let mut any = false;
                for j in 0..=names.len() {
                    any |= reach[j];
                    next[j] = any;
                }
            } else {
                for j in 0..names.len() {
                    next[j + 1] = reach[j] && glob(seg.as_bytes(), names[j].as_bytes());
                }
            }
            reach = next;
        }
        reach[names.len()]
    }
}

/// `*` matches any run of bytes; everything else matches itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("a", "a", true),
            ("a", "b", false),
            ("a.*", "a.b", true),
            ("a.*", "a", false),
            ("a.*", "a.b.c", false),
            ("a.**", "a", true),
            ("a.**", "a.b.c", true),
            ("**.err", "x.y.err", true),
            ("**.err", "err", true),
            ("a.**.z", "a.z", true),
            ("a.**.z", "a.b.c.z", true),
            ("a.**.z", "a.b.c", false),
            ("*", "top", true),
            ("*", "a.b", false),
            ("n*-?", "node-?", true),
            ("*x*", "abxcd", true),
            ("*x*", "abcd", false),
        ];
        for (p, n, want) in cases {
            assert_eq!(Pattern::new(p).unwrap().matches(n), want, "{p} vs {n}");
        }
    }

    #[test]
    fn refuses_bad_patterns() {
        assert!(Pattern::new("").is_err());
        assert!(Pattern::new("a**").unwrap_err().to_string().contains("whole segment"));
    }

    #[test]
    fn many_double_stars_stay_fast() {
        let p = Pattern::new(&vec!["**"; 300].join(".")).unwrap();
        assert!(p.matches(&vec!["x"; 300].join(".")));
    }
}
