//! Writes events to MCAP files: one channel per event name, the layout of [`super::format`],
//! a new file when the current one reaches its size or age limit or on request (SIGHUP).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eventcast::{Event, Loss};
use mcap::records::{MessageHeader, Metadata};

use super::format::{self, ENCODING, KIND_EVENT, KIND_KEY, KIND_LOSS, LOSS_TOPIC};

/// MCAP channel ids are 16 bits: past this many channels the recorder starts a new file.
const MAX_CHANNELS: usize = 60_000;

/// Compression of the file's chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionArg {
    /// None (fastest)
    None,
    /// zstd
    Zstd,
    /// LZ4
    Lz4,
}

/// How files are written and when a new one starts.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// The first file's path; later ones get `.0001`, `.0002`, … before the extension.
    pub path: PathBuf,
    pub compression: CompressionArg,
    /// Start a new file past this many bytes written (roughly: checked per event).
    pub split_size: Option<u64>,
    /// Start a new file after this long.
    pub split_duration: Option<Duration>,
    /// The `eventcast` metadata record of every file.
    pub metadata: BTreeMap<String, String>,
}

/// Counts of one recording, over all its files.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub events: u64,
    pub losses: u64,
    pub lost_events: u64,
    pub bytes: u64,
    pub files: u64,
    /// Events whose arguments could not be read (written nowhere, counted).
    pub undecodable: u64,
}

/// An open recording.
pub struct Recorder {
    options: WriterOptions,
    writer: Option<mcap::Writer<BufWriter<File>>>,
    channels: HashMap<String, u16>,
    loss_channel: Option<u16>,
    file_index: u32,
    file_path: PathBuf,
    file_bytes: u64,
    file_started: Instant,
    sequence: u32,
    pub counts: Counts,
}

impl Recorder {
    /// Creates the first file.
    pub fn create(options: WriterOptions) -> Result<Self, String> {
        let mut r = Recorder {
            file_path: options.path.clone(),
            options,
            writer: None,
            channels: HashMap::new(),
            loss_channel: None,
            file_index: 0,
            file_bytes: 0,
            file_started: Instant::now(),
            sequence: 0,
            counts: Counts::default(),
        };
        r.open()?;
        Ok(r)
    }

    /// The file written now.
    pub fn current_path(&self) -> &Path {
        &self.file_path
    }

    fn open(&mut self) -> Result<(), String> {
        let path = numbered(&self.options.path, self.file_index);
        let file = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let compression = match self.options.compression {
            CompressionArg::None => None,
            CompressionArg::Zstd => Some(mcap::Compression::Zstd),
            CompressionArg::Lz4 => Some(mcap::Compression::Lz4),
        };
        let mut writer = mcap::WriteOptions::new()
            .profile(format::PROFILE)
            .library(concat!("eventcast ", env!("CARGO_PKG_VERSION")))
            .compression(compression)
            .create(BufWriter::with_capacity(1 << 20, file))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let mut metadata = self.options.metadata.clone();
        metadata.insert("file_index".into(), self.file_index.to_string());
        metadata.insert("started_ns".into(), now_ns().to_string());
        writer
            .write_metadata(&Metadata { name: format::META_START.into(), metadata })
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        self.writer = Some(writer);
        self.file_path = path;
        self.channels.clear();
        self.loss_channel = None;
        self.file_bytes = 0;
        self.file_started = Instant::now();
        self.counts.files += 1;
        Ok(())
    }

    /// Closes the current file (its summary written) and starts the next one.
    pub fn rotate(&mut self, why: &str) -> Result<PathBuf, String> {
        self.close(why)?;
        self.file_index += 1;
        self.open()?;
        Ok(self.file_path.clone())
    }

    /// Whether the size or age limit asks for a new file.
    pub fn due_for_split(&self) -> bool {
        self.options.split_size.is_some_and(|max| self.file_bytes >= max)
            || self.options.split_duration.is_some_and(|max| self.file_started.elapsed() >= max)
    }

    fn channel(&mut self, topic: &str, kind: &str) -> Result<u16, String> {
        if let Some(id) = self.channels.get(topic) {
            return Ok(*id);
        }
        if self.channels.len() >= MAX_CHANNELS {
            self.rotate("channel limit")?;
        }
        let id = self.add_channel(topic, kind)?;
        self.channels.insert(topic.to_owned(), id);
        Ok(id)
    }

    /// A new channel in the current file: no schema, BSON messages, its kind in metadata.
    fn add_channel(&mut self, topic: &str, kind: &str) -> Result<u16, String> {
        let metadata = BTreeMap::from([(KIND_KEY.to_owned(), kind.to_owned())]);
        let writer = self.writer.as_mut().ok_or("the recording is closed")?;
        writer.add_channel(0, topic, ENCODING, &metadata).map_err(|e| e.to_string())
    }

    fn write(&mut self, channel_id: u16, time_ns: u64, body: &[u8]) -> Result<(), String> {
        self.sequence = self.sequence.wrapping_add(1);
        let header = MessageHeader { channel_id, sequence: self.sequence, log_time: time_ns, publish_time: time_ns };
        let writer = self.writer.as_mut().ok_or("the recording is closed")?;
        writer
            .write_to_known_channel(&header, body)
            .map_err(|e| format!("cannot write {}: {e}", self.file_path.display()))?;
        self.file_bytes += body.len() as u64 + 32;
        self.counts.bytes += body.len() as u64;
        Ok(())
    }

    /// Appends one received event.
    pub fn event(&mut self, ev: &Event, time_ns: u64) -> Result<(), String> {
        let Ok(args) = ev.raw_args() else {
            self.counts.undecodable += 1;
            return Ok(());
        };
        let source = ev.from().map(|a| a.to_string());
        let body = format::encode_event(&ev.sender().to_string(), ev.seq(), source.as_deref(), args);
        let id = self.channel(ev.name(), KIND_EVENT)?;
        self.write(id, time_ns, &body)?;
        self.counts.events += 1;
        Ok(())
    }

    /// Appends one loss report.
    pub fn loss(&mut self, loss: &Loss, time_ns: u64) -> Result<(), String> {
        // not through the map of names: an event may well be called "eventcast:loss"
        let id = match self.loss_channel {
            Some(id) => id,
            None => {
                let id = self.add_channel(LOSS_TOPIC, KIND_LOSS)?;
                self.loss_channel = Some(id);
                id
            }
        };
        self.write(id, time_ns, &format::encode_loss(&loss.sender.to_string(), loss.first, loss.last))?;
        self.counts.losses += 1;
        self.counts.lost_events += loss.count();
        Ok(())
    }

    /// Writes the end record and the summary, and closes the file.
    pub fn close(&mut self, why: &str) -> Result<(), String> {
        let Some(mut writer) = self.writer.take() else { return Ok(()) };
        let c = self.counts;
        let metadata = BTreeMap::from([
            ("ended_ns".to_owned(), now_ns().to_string()),
            ("reason".to_owned(), why.to_owned()),
            ("events_total".to_owned(), c.events.to_string()),
            ("lost_events_total".to_owned(), c.lost_events.to_string()),
        ]);
        let path = self.file_path.display().to_string();
        writer
            .write_metadata(&Metadata { name: format::META_END.into(), metadata })
            .map_err(|e| format!("{path}: {e}"))?;
        writer.finish().map_err(|e| format!("cannot finish {path}: {e}"))?;
        let mut inner = writer.into_inner();
        std::io::Write::flush(&mut inner).map_err(|e| format!("cannot write {path}: {e}"))?;
        inner.get_ref().sync_all().map_err(|e| format!("cannot sync {path}: {e}"))?;
        Ok(())
    }
}

/// `rec.mcap` → `rec.mcap` (index 0), `rec.0001.mcap`, `rec.0002.mcap`, …
pub fn numbered(path: &Path, index: u32) -> PathBuf {
    if index == 0 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{index:04}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{index:04}"),
    };
    path.with_file_name(name)
}

/// Now, in ns since the Unix epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_files() {
        assert_eq!(numbered(Path::new("/t/rec.mcap"), 0), Path::new("/t/rec.mcap"));
        assert_eq!(numbered(Path::new("/t/rec.mcap"), 2), Path::new("/t/rec.0002.mcap"));
        assert_eq!(numbered(Path::new("rec"), 1), Path::new("rec.0001"));
    }
}
