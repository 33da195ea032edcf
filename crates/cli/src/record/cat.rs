//! `eventcast cat FILE…`: a recording as `listen` JSON lines, plus `"seq"` and `"time"`
//! (receive time, seconds since the Unix epoch); losses as `listen` prints them on stderr.

use std::io::Write;
use std::process::ExitCode;

use eventcast::Pattern;
use eventcast::bson::{Bson, RawDocument};

use super::CatArgs;
use super::format::Recorded;
use super::reader::{Item, Reader};
use crate::CliResult;

/// A line on stderr; a closed stderr does not end `cat`.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// The `listen` JSON line of a recorded event.
pub fn json_line(ev: &Recorded) -> serde_json::Value {
    let args = match RawDocument::from_bytes(&ev.args).and_then(bson::Document::try_from) {
        Ok(doc) => Bson::Array(doc.into_iter().map(|(_, v)| v).collect()).into_relaxed_extjson(),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    serde_json::json!({
        "event": ev.name,
        "args": args,
        "sender": ev.sender,
        "from": ev.source,
        "seq": ev.seq,
        "time": ev.time_ns as f64 / 1e9,
    })
}

pub fn run(args: CatArgs) -> CliResult {
    let filters = args.filter.iter().map(|p| Pattern::new(p)).collect::<Result<Vec<_>, _>>()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut skipped = 0u64;
    for path in &args.files {
        let mut reader = Reader::open(path)?;
        while let Some(item) = reader.next_item() {
            match item? {
                Item::Event(ev) => {
                    if !filters.is_empty() && !filters.iter().any(|p| p.matches(&ev.name)) {
                        continue;
                    }
                    if writeln!(out, "{}", json_line(&ev)).is_err() {
                        return Ok(ExitCode::SUCCESS); // stdout closed (| head)
                    }
                }
                Item::Loss(l) => say!(
                    "{}",
                    serde_json::json!({"lost": (l.last - l.first).checked_add(1), "sender": l.sender, "first": l.first, "last": l.last, "time": l.time_ns as f64 / 1e9})
                ),
                Item::Metadata(name, map) if args.metadata => {
                    say!("{}", serde_json::json!({"metadata": name, "values": map}))
                }
                Item::Metadata(..) => {}
                Item::Skipped(why) => {
                    skipped += 1;
                    if skipped <= 5 {
                        say!("eventcast: {}: skipped {why}", path.display());
                    }
                }
            }
        }
    }
    let _ = out.flush();
    if skipped > 5 {
        say!("eventcast: skipped {skipped} messages in all");
    }
    Ok(ExitCode::SUCCESS)
}
