//! Reads eventcast recordings back, streaming (memory bounded by the largest record and the
//! channel table, at most 65,536 topics of at most 4 KB, never by the file's size): the
//! events and losses in file order, and the metadata.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::Path;

use mcap::sans_io::linear_reader::{LinearReadEvent, LinearReader, LinearReaderOptions};

use super::format::{self, KIND_KEY, KIND_LOSS, Recorded, RecordedLoss};

/// The largest record the reader accepts: the library's largest event (1 GiB) and room
/// for the message around it.
const MAX_RECORD: usize = (1 << 30) + (64 << 20);

/// Longest topic kept (the library's longest event name is 1,024 bytes).
const MAX_TOPIC: usize = 4096;
/// Channels kept (MCAP channel ids are 16 bits).
const MAX_CHANNELS: usize = 1 << 16;

/// One thing read from a recording.
#[derive(Debug)]
pub enum Item {
    Event(Recorded),
    Loss(RecordedLoss),
    /// A metadata record (name, key/values).
    Metadata(String, BTreeMap<String, String>),
    /// A message this reader does not understand (another writer's channel, a bad body):
    /// skipped, with why.
    Skipped(String),
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Event,
    Loss,
    Other,
}

/// A streaming reader of one file.
pub struct Reader {
    file: File,
    inner: LinearReader,
    channels: HashMap<u16, (String, Kind)>,
    path: String,
    done: bool,
}

impl Reader {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let options = LinearReaderOptions::default().with_record_length_limit(MAX_RECORD);
        Ok(Reader {
            file,
            inner: LinearReader::new_with_options(options),
            channels: HashMap::new(),
            path: path.display().to_string(),
            done: false,
        })
    }

    /// The next item; `None` at the end of the file.
    pub fn next_item(&mut self) -> Option<Result<Item, String>> {
        if self.done {
            return None;
        }
        loop {
            let event = match self.inner.next_event() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(format!("{}: not a complete MCAP file ({e})", self.path)));
                }
                Some(Ok(event)) => event,
            };
            match event {
                LinearReadEvent::ReadRequest(need) => {
                    let buf = self.inner.insert(need);
                    match self.file.read(buf) {
                        Ok(n) => self.inner.notify_read(n),
                        Err(e) => {
                            self.done = true;
                            return Some(Err(format!("cannot read {}: {e}", self.path)));
                        }
                    }
                }
                LinearReadEvent::Record { opcode, data } => {
                    let record = match mcap::parse_record(opcode, data) {
                        Ok(r) => r,
                        Err(e) => return Some(Ok(Item::Skipped(format!("a record that does not parse ({e})")))),
                    };
                    if let Some(item) = handle(&mut self.channels, record) {
                        return Some(Ok(item));
                    }
                }
            }
        }
    }
}

fn handle(channels: &mut HashMap<u16, (String, Kind)>, record: mcap::records::Record<'_>) -> Option<Item> {
    use mcap::records::Record;
    match record {
        Record::Channel(c) => {
            if c.topic.len() > MAX_TOPIC || (channels.len() >= MAX_CHANNELS && !channels.contains_key(&c.id)) {
                // bounded: a file cannot make the reader keep more than this
                return Some(Item::Skipped(format!("channel {} ({} bytes of topic)", c.id, c.topic.len())));
            }
            let kind = match c.metadata.get(KIND_KEY).map(String::as_str) {
                Some(KIND_LOSS) => Kind::Loss,
                k if format::is_event_channel(k, &c.message_encoding) => Kind::Event,
                _ => Kind::Other,
            };
            channels.insert(c.id, (c.topic, kind));
            None
        }
        Record::Message { header, data } => {
            let Some((topic, kind)) = channels.get(&header.channel_id) else {
                return Some(Item::Skipped(format!("a message on unknown channel {}", header.channel_id)));
            };
            Some(match kind {
                Kind::Event => match format::decode_event(topic, &data, header.log_time) {
                    Ok(ev) => Item::Event(ev),
                    Err(e) => Item::Skipped(format!("an event {topic:?} that does not read: {e}")),
                },
                Kind::Loss => match format::decode_loss(&data, header.log_time) {
                    Ok(loss) => Item::Loss(loss),
                    Err(e) => Item::Skipped(format!("a loss report that does not read: {e}")),
                },
                Kind::Other => Item::Skipped(format!("a message on channel {topic:?}, not eventcast's")),
            })
        }
        Record::Metadata(m) => Some(Item::Metadata(m.name, m.metadata)),
        _ => None,
    }
}
