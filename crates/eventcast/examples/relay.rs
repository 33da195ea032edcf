//! Relays events from one port to another through typed BSON values, printing each as
//! canonical Extended JSON (every BSON type named): how the Node and Python packages' tests
//! check that what a binding sends reads in Rust as the type it should, and comes back
//! unchanged after Rust re-encodes it.
//!
//! ```sh
//! cargo run --release --example relay -- 127.0.0.1 9100 9101 COUNT [GROUP]
//! ```
//!
//! Listens on the group (default 239.255.0.99) at the first port, re-emits each event on the
//! second with `emit_bson(name, args_bson())`, prints `{"event", "args"}` lines on stdout,
//! `ready` on stderr once listening; exits after COUNT events.

use eventcast::Eventcast;

#[tokio::main]
async fn main() -> eventcast::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.len() < 4 {
        eprintln!("usage: relay INTERFACE FROM_PORT TO_PORT COUNT [GROUP]");
        std::process::exit(2);
    }
    let port = |s: &str| s.parse::<u16>().unwrap_or_else(|_| panic!("bad port {s:?}"));
    let count: usize = argv[3].parse().expect("COUNT is a number");
    let group = argv.get(4).map_or("239.255.0.99", String::as_str);
    let instance = |p: u16| Eventcast::builder().interface(&argv[0]).group(group).port(p).build();
    let from = instance(port(&argv[1]))?;
    let to = instance(port(&argv[2]))?;
    let mut events = from.subscribe("**")?;
    from.start().await?;
    to.start().await?;
    eprintln!("ready");
    for _ in 0..count {
        let Some(ev) = events.recv().await else { break };
        let args = ev.args_bson()?;
        let line = serde_json::json!({
            "event": ev.name(),
            "args": eventcast::bson::Bson::Array(args.clone()).into_canonical_extjson(),
        });
        println!("{line}");
        to.emit_bson(ev.name(), args).await?;
    }
    // stay a moment to answer repair requests for the last events
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    to.stop().await?;
    from.stop().await
}
