//! Check 9: two library instances on the chosen interface, on a random group and port of
//! their own, send each other an event; each must arrive from the other instance, through
//! the network stack (an instance never receives its own network copy).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use eventcast::{EventStream, Eventcast, SenderId};
use tokio::time::{Instant, timeout};

use super::report::{Check, Status};
use crate::net::NetArgs;

const NAME: &str = "self-test";
const EVENT: &str = "doctor.selftest";
/// How long each direction may take.
const WAIT: Duration = Duration::from_secs(2);

/// A random number (std's hasher keys come from the OS's random source).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}

/// A group no real traffic uses: 239.255.x.y (x ≥ 1, so never the default group), or an
/// IPv6 link-local transient group for an IPv6 `--group`.
fn random_group(v6: bool) -> IpAddr {
    let r = random_u64();
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0xff12, 0, 0, 0, 0, 0xec, (r >> 16) as u16, r as u16))
    } else {
        IpAddr::V4(Ipv4Addr::new(239, 255, 1 + (r % 254) as u8, 1 + ((r >> 8) % 254) as u8))
    }
}

/// A UDP port free right now.
fn free_port(v6: bool) -> u16 {
    let any: IpAddr = if v6 { Ipv6Addr::UNSPECIFIED.into() } else { Ipv4Addr::UNSPECIFIED.into() };
    UdpSocket::bind(SocketAddr::new(any, 0)).and_then(|s| s.local_addr()).map_or(0, |a| a.port())
}

/// The options of a self-test instance: the user's, on a random group and port, with
/// multicast only (no peers, no NATS, no console or metrics) and loopback on.
fn options(net: &NetArgs, group: IpAddr, port: u16) -> NetArgs {
    let mut o = net.clone();
    o.group = group.to_string();
    o.port = port;
    o.no_loopback = false;
    o.repl = false;
    o.repl_port = None;
    o.metrics = None;
    let t = &mut o.transport;
    t.peers.clear();
    t.nats = None;
    t.nats_subject = None;
    t.nats_creds = None;
    t.nats_token = None;
    t.nats_user = None;
    t.nats_password = None;
    t.nats_nkey_file = None;
    t.nats_tls_ca = None;
    o
}

/// Sends from `from` until `to` receives it from `from`'s sender id, or `WAIT` passes.
/// `from`'s own stream gets its local copy, which tells its sender id.
async fn one_way(
    from: &Eventcast,
    own: &mut EventStream,
    to: &mut EventStream,
    tag: (u64, &str),
) -> Result<Duration, String> {
    let started = Instant::now();
    let deadline = started + WAIT;
    let mut sender: Option<SenderId> = None;
    while Instant::now() < deadline {
        from.emit(EVENT, &(tag.0 as i64, tag.1)).await.map_err(|e| format!("emit failed: {e}"))?;
        if sender.is_none() {
            if let Ok(Some(ev)) = timeout(Duration::from_millis(500), own.recv()).await {
                sender = Some(ev.sender());
            }
        }
        let round = Instant::now() + Duration::from_millis(300);
        while let Ok(Some(ev)) = timeout(round.saturating_duration_since(Instant::now()), to.recv()).await {
            let ours = ev.args::<(i64, String)>().is_ok_and(|(n, t)| n == tag.0 as i64 && t == tag.1);
            if ours && Some(ev.sender()) == sender {
                return Ok(started.elapsed());
            }
        }
    }
    Err(format!("nothing from the {} instance within {} s", tag.1, WAIT.as_secs()))
}

/// Runs the self-test; `interface` is the chosen interface's name, `earlier` the checks so
/// far (their failures are the likely causes).
pub async fn run(net: &NetArgs, interface: Option<&str>, earlier: &[Check]) -> Check {
    if net.transport.no_multicast {
        return Check::skipped(
            NAME,
            "multicast is off (--no-multicast): the self-test checks multicast, not peers or NATS",
        );
    }
    let v6 = net.group.parse::<IpAddr>().is_ok_and(|g| g.is_ipv6());
    let (group, port) = (random_group(v6), free_port(v6));
    let via = interface.unwrap_or(&net.interface);
    let place = format!("{} via {via}", SocketAddr::new(group, port));
    let causes: Vec<String> =
        earlier.iter().filter(|c| c.status == Status::Fail).map(|c| format!("{} ({})", c.name, c.detail)).collect();
    let cause = if causes.is_empty() {
        "likely cause: multicast does not loop back on this interface (an output or input firewall rule, or a driver without multicast)".to_owned()
    } else {
        format!("likely cause: {}", causes.join("; "))
    };
    let fix = if via == "lo" || via == "127.0.0.1" {
        "fix the failures above; on lo, use an IPv4 group (IPv6 multicast does not loop back on lo here)"
    } else {
        "fix the failures above; --interface lo tells whether the library works on this host at all"
    };
    let result = async {
        let opts = options(net, group, port);
        let a = opts.build().map_err(|e| format!("cannot create an instance: {e}"))?;
        let b = opts.build().map_err(|e| format!("cannot create an instance: {e}"))?;
        // their send errors would flood stderr; the verdict says what went wrong
        for ec in [&a, &b] {
            let _ = ec.set_log_level(None, tracing::level_filters::LevelFilter::ERROR);
        }
        let mut sa = a.subscribe(EVENT).map_err(|e| e.to_string())?;
        let mut sb = b.subscribe(EVENT).map_err(|e| e.to_string())?;
        a.start().await.map_err(|e| format!("cannot start an instance: {e}"))?;
        if let Err(e) = b.start().await {
            let _ = a.stop().await;
            return Err(format!("cannot start a second instance: {e}"));
        }
        let nonce = random_u64() >> 1;
        let outcome = async {
            let ab = one_way(&a, &mut sa, &mut sb, (nonce, "first")).await?;
            let ba = one_way(&b, &mut sb, &mut sa, (nonce, "second")).await?;
            Ok::<_, String>((ab, ba))
        }
        .await;
        let _ = a.stop().await;
        let _ = b.stop().await;
        outcome
    }
    .await;
    match result {
        Ok((ab, ba)) => Check::ok(
            NAME,
            format!(
                "two instances on {place} exchanged events both ways ({:.1} ms, {:.1} ms)",
                ab.as_secs_f64() * 1e3,
                ba.as_secs_f64() * 1e3
            ),
        ),
        Err(e) => Check::fail(NAME, format!("two instances on {place}: {e}; {cause}"), fix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_groups_stay_out_of_the_way() {
        for _ in 0..100 {
            let IpAddr::V4(g) = random_group(false) else { panic!() };
            let [a, b, c, d] = g.octets();
            assert!(a == 239 && b == 255 && c >= 1 && d >= 1 && c < 255 && d < 255, "{g}");
        }
        assert!(random_group(true).is_multicast());
    }
}
