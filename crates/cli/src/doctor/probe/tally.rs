//! What one side of the probe heard from each peer, the report it sends back, and the
//! verdict on both directions.

use std::net::SocketAddr;
use std::time::Instant;

use super::super::report::Check;
use super::wire::{MAX_BURST, MAX_TTL, Msg, Report, SIZES};

/// Everything heard from one peer.
#[derive(Debug, Clone)]
pub struct Heard {
    /// Where its datagrams come from.
    pub addr: SocketAddr,
    /// When it was last heard.
    pub last: Instant,
    /// When it was first heard.
    pub first: Instant,
    burst: Vec<bool>,
    burst_got: u32,
    burst_total: u32,
    sizes: u8,
    min_ttl: u8,
    /// It sent its Done: its burst is over.
    pub done: bool,
    /// Its latest report about us.
    pub report: Option<Report>,
    /// Reports we sent it.
    pub reports_sent: u32,
    /// When our next report to it is due.
    pub next_report: Instant,
}

impl Heard {
    /// A peer first heard now from `addr`.
    pub fn new(addr: SocketAddr, now: Instant) -> Heard {
        Heard {
            addr,
            last: now,
            first: now,
            burst: Vec::new(),
            burst_got: 0,
            burst_total: 0,
            sizes: 0,
            min_ttl: 0,
            done: false,
            report: None,
            reports_sent: 0,
            next_report: now,
        }
    }

    /// Counts a datagram of the peer; `me` is our probe id (reports about others are ignored).
    pub fn take(&mut self, msg: &Msg, me: u64, now: Instant) {
        self.last = now;
        match *msg {
            Msg::Hello => {}
            Msg::Burst { seq, total } => {
                let total = total.min(MAX_BURST);
                if self.burst.len() < total as usize {
                    self.burst.resize(total as usize, false);
                }
                self.burst_total = self.burst_total.max(total);
                if let Some(slot) = self.burst.get_mut(seq as usize).filter(|s| !**s) {
                    *slot = true;
                    self.burst_got += 1;
                }
            }
            Msg::Size { size } => {
                if let Some(i) = SIZES.iter().position(|s| *s == size) {
                    self.sizes |= 1 << i;
                }
            }
            Msg::Ttl { ttl } => {
                if (1..=MAX_TTL).contains(&ttl) && (self.min_ttl == 0 || ttl < self.min_ttl) {
                    self.min_ttl = ttl;
                }
            }
            Msg::Done { total } => {
                self.done = true;
                self.burst_total = self.burst_total.max(total.min(MAX_BURST));
            }
            Msg::Report(r) if r.to == me => self.report = Some(r),
            Msg::Report(_) => {}
        }
    }

    /// Our report to the peer `peer` about what we got from it.
    pub fn report(&self, peer: u64) -> Report {
        Report {
            to: peer,
            burst_got: self.burst_got,
            burst_total: self.burst_total,
            sizes: self.sizes,
            min_ttl: self.min_ttl,
            got_yours: self.report.is_some(),
        }
    }
}

/// The largest size of a `sizes` mask, if any.
fn largest(sizes: u8) -> Option<u32> {
    (0..SIZES.len()).rev().find(|i| sizes & (1 << i) != 0).map(|i| SIZES[i])
}

/// One direction as text: `998/1000 datagrams (0.2% lost), largest 65000 B, TTL 1`.
fn direction(r: &Report, sent: u32) -> String {
    let total = if r.burst_total > 0 { r.burst_total } else { sent };
    let lost = total.saturating_sub(r.burst_got);
    let pct = if total > 0 { f64::from(lost) * 100.0 / f64::from(total) } else { 0.0 };
    let size = largest(r.sizes).map_or("no test datagram".to_owned(), |s| format!("largest {s} B"));
    let ttl = if r.min_ttl > 0 { format!("TTL {} needed", r.min_ttl) } else { "no TTL datagram".to_owned() };
    format!("{}/{total} datagrams ({pct:.1}% lost), {size}, {ttl}", r.burst_got)
}

/// What the probe expects of the path: the instance's options.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// Datagrams in our burst.
    pub burst: u32,
    /// `--ttl`.
    pub ttl: u32,
    /// `--max-payload-size`.
    pub max_payload: usize,
}

/// The verdict on the path to and from one peer.
pub fn verdict(peer: u64, h: &Heard, expect: Expect) -> Check {
    const NAME: &str = "probe";
    let inbound = h.report(peer);
    let in_text = direction(&inbound, 0);
    let out_text = match &h.report {
        Some(r) => direction(r, expect.burst),
        None => "no report from the peer (it may not hear us)".to_owned(),
    };
    let detail = format!("peer {} ({peer:016x}): out {out_text}; in {in_text}", h.addr.ip());
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    let mut fail = false;
    for (label, r) in [("out", h.report.as_ref()), ("in", Some(&inbound))] {
        let Some(r) = r else {
            problems.push("out: nothing reported back".to_owned());
            fixes.push(
                "run the doctor on the peer (it lists its own problems); check the firewall of the peer".to_owned(),
            );
            continue;
        };
        if r.burst_got == 0 {
            fail = true;
            problems.push(format!("{label}: no burst datagram arrived"));
            fixes.push(format!("the {label} direction is blocked: check firewalls and --interface on both hosts"));
        } else if r.burst_got < r.burst_total.max(if label == "out" { expect.burst } else { 0 }) {
            problems.push(format!("{label}: loss"));
            fixes.push("datagrams are lost on the way: a firewall rule dropping some (see firewall), full socket buffers (see buffers) or a busy link".into());
        }
        if let Some(size) = largest(r.sizes).filter(|s| (*s as usize) < expect.max_payload) {
            problems.push(format!("{label}: datagrams above {size} B do not pass"));
            fixes.push(format!("run every instance with --max-payload-size {size}"));
        }
        if r.min_ttl > 0 && u32::from(r.min_ttl) > expect.ttl {
            problems.push(format!("{label}: TTL {} needed", r.min_ttl));
            fixes.push(format!("run every instance with --ttl {}", r.min_ttl));
        }
    }
    if problems.is_empty() {
        return Check::ok(NAME, detail);
    }
    fixes.dedup();
    let detail = format!("{detail} [{}]", problems.join(", "));
    if fail { Check::fail(NAME, detail, fixes.join("; ")) } else { Check::warn(NAME, detail, fixes.join("; ")) }
}

#[cfg(test)]
mod tests {
    use super::super::super::report::Status;
    use super::*;

    const EXPECT: Expect = Expect { burst: 10, ttl: 1, max_payload: 1024 };

    fn heard() -> Heard {
        Heard::new("10.77.0.2:9001".parse().unwrap(), Instant::now())
    }

    fn feed(h: &mut Heard, got: u32, of: u32) {
        let now = Instant::now();
        for seq in 0..got {
            h.take(&Msg::Burst { seq, total: of }, 1, now);
            h.take(&Msg::Burst { seq, total: of }, 1, now); // duplicates count once
        }
        for size in SIZES {
            h.take(&Msg::Size { size }, 1, now);
        }
        for ttl in [3, 1, 2] {
            h.take(&Msg::Ttl { ttl }, 1, now);
        }
        h.take(&Msg::Done { total: of }, 1, now);
    }

    #[test]
    fn a_clean_path_is_ok_both_ways() {
        let mut h = heard();
        feed(&mut h, 10, 10);
        let report = Report { to: 1, burst_got: 10, burst_total: 10, sizes: 0xff, min_ttl: 1, got_yours: true };
        h.take(&Msg::Report(report), 1, Instant::now());
        h.take(&Msg::Report(Report { to: 99, ..report }), 1, Instant::now()); // about someone else
        assert_eq!(h.report(2), Report { to: 2, ..report });
        let c = verdict(2, &h, EXPECT);
        assert_eq!(c.status, Status::Ok, "{}", c.detail);
        assert!(
            c.detail.contains("out 10/10 datagrams (0.0% lost), largest 65000 B, TTL 1 needed; in 10/10"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn loss_silence_and_small_paths() {
        let mut h = heard();
        feed(&mut h, 8, 10);
        let c = verdict(2, &h, EXPECT);
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.detail.contains("in 8/10 datagrams (20.0% lost)") && c.detail.contains("nothing reported back"),
            "{}",
            c.detail
        );
        let report = Report { to: 1, burst_got: 0, burst_total: 10, sizes: 0b1, min_ttl: 2, got_yours: false };
        h.take(&Msg::Report(report), 1, Instant::now());
        let c = verdict(2, &h, EXPECT);
        assert_eq!(c.status, Status::Fail);
        let fix = c.fix.unwrap();
        assert!(fix.contains("--max-payload-size 512") && fix.contains("--ttl 2"), "{fix}");
        assert!(largest(0).is_none());
        h.take(&Msg::Burst { seq: 5, total: MAX_BURST }, 1, Instant::now());
        assert!(h.burst.len() <= MAX_BURST as usize);
    }
}
