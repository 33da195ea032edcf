//! nats-bench send EVENTS SIZE [RATE] | recv EVENTS IDLE_SECONDS — the same measurement as
//! `eventcast bench --role`, through nats-server on 127.0.0.1:4222 (or $NATS_URL). Each message starts with
//! its sequence number and send time (ns since the Unix epoch).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

fn quantile(v: &[u32], q: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: nats-bench send EVENTS SIZE [RATE] | recv EVENTS IDLE_SECONDS");
        std::process::exit(2);
    }
    let events: u64 = args[2].parse()?;
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".into());
    let client = async_nats::connect(url).await?;
    if args[1] == "send" {
        let size: usize = args[3].parse::<usize>()?.max(16);
        let rate: f64 = args.get(4).map_or(Ok(0.0), |r| r.parse())?;
        let start = Instant::now();
        let mut buf = vec![0u8; size];
        for i in 0..events {
            if rate > 0.0 {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                if due > Instant::now() {
                    tokio::time::sleep_until(due.into()).await;
                }
            }
            buf[..8].copy_from_slice(&i.to_le_bytes());
            buf[8..16].copy_from_slice(&now_ns().to_le_bytes());
            client.publish("bench", buf.clone().into()).await?;
        }
        client.flush().await?;
        eprintln!("nats send: {events} in {:.3} s", start.elapsed().as_secs_f64());
    } else {
        let idle = Duration::from_secs(args[3].parse()?);
        let mut sub = client.subscribe("bench").await?;
        client.flush().await?;
        eprintln!("nats bench: receiving");
        let (mut count, mut first, mut last) = (0u64, 0i64, 0i64);
        let mut lat = Vec::with_capacity(events as usize);
        while count < events {
            let Ok(Some(msg)) = tokio::time::timeout(idle, sub.next()).await else { break };
            let now = now_ns();
            let sent = msg.payload.get(8..16).map_or(0, |b| i64::from_le_bytes(b.try_into().unwrap_or_default()));
            lat.push(((now - sent).max(0) / 1000) as u32);
            if first == 0 {
                first = now;
            }
            last = now;
            count += 1;
        }
        lat.sort_unstable();
        let secs = ((last - first).max(1)) as f64 / 1e9;
        println!(
            "{{\"mode\":\"nats\",\"role\":\"recv\",\"events\":{events},\"seconds\":{secs:.6},\"events_per_sec\":{:.1},\"delivered\":{count},\"lost\":{},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{}}}",
            count as f64 / secs,
            events - count,
            quantile(&lat, 0.5),
            quantile(&lat, 0.99),
            quantile(&lat, 0.999)
        );
    }
    Ok(())
}
