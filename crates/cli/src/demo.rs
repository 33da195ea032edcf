//! `eventcast demo`: three instances on loopback exchange events, one of them segmented.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use eventcast::bson::{self, Bson, doc};
use eventcast::{Event, Eventcast, SenderId, State};
use tokio::sync::mpsc;

use crate::CliResult;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Multicast group
    #[arg(long, default_value = "239.255.0.99")]
    group: String,
    /// UDP port (default: one derived from the process id, so demos running at once stay apart)
    #[arg(long)]
    port: Option<u16>,
    /// Multicast interface; the demo stays on this host
    #[arg(long, default_value = "127.0.0.1")]
    interface: String,
    /// Size of the large event, in bytes
    #[arg(long, default_value_t = 150_000)]
    blob_size: usize,
}

const NAMES: [&str; 3] = ["alice", "bob", "carol"];

pub async fn run(args: DemoArgs) -> CliResult {
    let port = args.port.unwrap_or(20_000 + (std::process::id() % 20_000) as u16);
    println!("eventcast demo: {} instances on {}:{} via {}", NAMES.len(), args.group, port, args.interface);
    let mut nodes = Vec::new();
    for _ in NAMES {
        let ec = Eventcast::builder().group(&args.group).port(port).interface(&args.interface).build()?;
        crate::apply_log_levels(&ec)?;
        ec.start().await?;
        nodes.push(ec);
    }
    let mut who: HashMap<SenderId, &str> = HashMap::new();
    for (ec, name) in nodes.iter().zip(NAMES) {
        if let State::Running { sender, .. } = *ec.state().borrow() {
            who.insert(sender, name);
            println!("  {name:<5} started as sender {sender}");
        }
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<(&str, Event)>();
    let listen = |i: usize, pattern: &str| -> eventcast::Result<()> {
        let tx = tx.clone();
        nodes[i].on(pattern, move |ev| {
            let _ = tx.send((NAMES[i], ev.clone()));
        })?;
        Ok(())
    };
    listen(0, "reply")?;
    listen(1, "greeting")?;
    listen(1, "sensor.*")?;
    listen(2, "**")?;
    let (alice, bob) = (&nodes[0], &nodes[1]);

    println!("\nalice emits greeting, sensor.temp and a {} byte photo; bob replies:", args.blob_size);
    alice.emit("greeting", &("hello from alice", 42)).await?;
    let reading = doc! { "room": "lab", "celsius": 21.5, "at": bson::DateTime::now() };
    alice.emit_bson("sensor.temp", vec![Bson::Document(reading)]).await?;
    let photo = bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: (0..args.blob_size).map(|i| i as u8).collect(),
    };
    alice.emit_bson("photo.jpg", vec![Bson::String("cat.jpg".into()), Bson::Binary(photo.clone())]).await?;
    bob.emit("reply", &("hi alice",)).await?;

    // bob: greeting + sensor.temp; carol: all four; alice: reply (bob's own listeners do not
    // see his reply, as he has none for it)
    let mut expected: Vec<(&str, &str)> = vec![
        ("bob", "greeting"),
        ("bob", "sensor.temp"),
        ("carol", "greeting"),
        ("carol", "sensor.temp"),
        ("carol", "photo.jpg"),
        ("carol", "reply"),
        ("alice", "reply"),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !expected.is_empty() {
        let Ok(Some((node, ev))) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        let from = who.get(&ev.sender()).copied().unwrap_or("?");
        println!("  {node:<5} <- {:<12} from {from:<5} {}", ev.name(), describe(&ev, &photo));
        expected.retain(|e| *e != (node, ev.name()));
    }
    let carol = nodes[2].stats().await.protocol;
    println!(
        "\ncarol's counters: {} events in {} datagrams ({} fragments), {} dropped as malformed",
        carol.events_in, carol.datagrams_in, carol.fragments_in, carol.dropped.malformed
    );
    for ec in &nodes {
        ec.stop().await?;
    }
    if expected.is_empty() {
        println!("demo ok: every event arrived, the large one reassembled intact");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("demo FAILED: missing {expected:?}");
        Ok(ExitCode::FAILURE)
    }
}

fn describe(ev: &Event, photo: &bson::Binary) -> String {
    match ev.args_bson() {
        Ok(args) if ev.name() == "photo.jpg" => {
            let intact = args.get(1) == Some(&Bson::Binary(photo.clone()));
            format!("[{}, <{} bytes, {}>]", args[0], photo.bytes.len(), if intact { "intact" } else { "CORRUPT" })
        }
        Ok(args) => Bson::Array(args).into_relaxed_extjson().to_string(),
        Err(e) => format!("(unreadable: {e})"),
    }
}
