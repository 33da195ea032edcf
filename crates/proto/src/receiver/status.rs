//! The receiving half's progress reports (STATUS frames) for the senders' flow control:
//! one whenever a sender's stream has moved `STATUS_STEP` sequences (or `STATUS_STEP_BYTES`
//! of events) since the last report,
//! and within `STATUS_INTERVAL` of any other progress. Nothing is sent while nothing moves.
//! Progress counts what the application took, not only what arrived (see `Peer::progress`),
//! so a slow application slows the senders through their flow control.

use std::time::{Duration, Instant};

use super::Incoming;

/// A report at least every this many sequences of progress on one sender…
pub const STATUS_STEP: u64 = 1024;
/// …or every this many bytes of its events delivered, so that a sender of large events
/// learns soon enough to free its retransmit buffer.
pub const STATUS_STEP_BYTES: usize = 1 << 20;
/// Smaller progress is reported within this time.
pub const STATUS_INTERVAL: Duration = Duration::from_millis(20);

impl Incoming {
    /// Notes progress on `sender`'s stream: queues a report when it moved a step.
    pub(super) fn note_progress(&mut self, sender: u64) {
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        let progress = peer.progress();
        if !peer.proven || progress <= peer.status_sent {
            return;
        }
        if progress >= peer.status_sent.saturating_add(STATUS_STEP) || peer.bytes_since_status >= STATUS_STEP_BYTES {
            peer.status_sent = progress;
            peer.bytes_since_status = 0;
            self.statuses.push((sender, progress));
        } else {
            self.status_dirty = true;
        }
    }

    /// Starts the timer for progress not reported yet.
    pub fn schedule_status(&mut self, now: Instant) {
        if self.status_dirty && self.status_due.is_none() {
            self.status_due = Some(now + STATUS_INTERVAL);
        }
    }

    /// Reports every sender's unreported progress once the timer is due.
    pub(super) fn status_timer(&mut self, now: Instant) {
        if self.status_due.is_none_or(|t| t > now) {
            return;
        }
        self.status_due = None;
        self.status_dirty = false;
        for (id, peer) in self.peers.iter_mut() {
            let progress = peer.progress();
            if peer.proven && progress > peer.status_sent {
                peer.status_sent = progress;
                peer.bytes_since_status = 0;
                self.statuses.push((*id, progress));
            }
        }
    }

    /// The reports to send now: (sender, next expected sequence).
    pub fn take_statuses(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.statuses)
    }
}
