//! The `eventcast` binary on loopback: listen, emit, demo, and its answers to bad input.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn eventcast() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_eventcast"));
    c.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    c
}

fn net(c: &mut Command, port: u16) -> &mut Command {
    c.args(["--interface", "127.0.0.1", "--group", "239.255.2.1", "--port", &port.to_string()])
}

/// Starts `eventcast listen …` and waits for its `listening` line.
fn listen(port: u16, extra: &[&str]) -> Child {
    listen_verbose(port, extra).0
}

fn emit(port: u16, args: &[&str]) -> Output {
    let mut c = eventcast();
    c.arg("emit").args(args);
    net(&mut c, port).output().unwrap()
}

fn wait(mut child: Child, limit: Duration) -> (Option<i32>, Vec<Value>) {
    let start = Instant::now();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).unwrap();
        out
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = reader.join().unwrap();
            let lines = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            return (status.code(), lines);
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("listener did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_kind_of_argument_arrives_as_extended_json() {
    let rx = listen(19201, &["--count", "2", "--timeout", "10"]);
    let out = emit(
        19201,
        &[
            "kinds",
            "plain words",
            "42",
            "-1.5",
            "true",
            "null",
            r#"{"nested": [1, {"a": "b"}]}"#,
            "[1,2]",
            r#"{"$date": "2024-05-06T07:08:09.010Z"}"#,
            r#"{"$oid": "0123456789abcdef01234567"}"#,
            r#"{"$binary": {"base64": "AAEC", "subType": "00"}}"#,
            r#"{"$regularExpression": {"pattern": "^a", "options": "i"}}"#,
            r#"{"$numberLong": "9007199254740993"}"#,
            r#"{"$numberDecimal": "1.10"}"#,
            r#"{"$timestamp": {"t": 1, "i": 2}}"#,
            r#"{"$minKey": 1}"#,
            r#"{"$maxKey": 1}"#,
            r#"{"$undefined": true}"#,
            r#"{"$code": "f()"}"#,
            r#"{"$symbol": "s"}"#,
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // 150 KB is over the kernel's limit for one command-line argument, so it goes by stdin
    let blob = "x".repeat(150_000);
    let mut c = eventcast();
    c.args(["emit", "--stdin"]);
    let mut tx = net(&mut c, 19201).stdin(Stdio::piped()).spawn().unwrap();
    writeln!(tx.stdin.take().unwrap(), "{}", json!({"event": "big", "args": [blob]})).unwrap();
    assert!(tx.wait().unwrap().success());
    let (code, lines) = wait(rx, Duration::from_secs(15));
    assert_eq!(code, Some(0));
    let kinds = &lines[0];
    assert_eq!(kinds["event"], "kinds");
    assert!(kinds["sender"].as_str().unwrap().len() == 16);
    assert!(kinds["from"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(
        kinds["args"],
        json!([
            "plain words", 42, -1.5, true, null, {"nested": [1, {"a": "b"}]}, [1, 2],
            {"$date": "2024-05-06T07:08:09.01Z"}, {"$oid": "0123456789abcdef01234567"},
            {"$binary": {"base64": "AAEC", "subType": "00"}}, {"$regularExpression": {"pattern": "^a", "options": "i"}},
            9007199254740993i64, {"$numberDecimal": "1.10"}, {"$timestamp": {"t": 1, "i": 2}},
            {"$minKey": 1}, {"$maxKey": 1}, {"$undefined": true}, {"$code": "f()"}, {"$symbol": "s"},
        ])
    );
    assert_eq!(lines[1]["event"], "big");
    assert_eq!(lines[1]["args"][0].as_str().unwrap().len(), 150_000);
}

#[test]
fn patterns_count_and_stdin() {
    let rx = listen(19202, &["sensor.*", "--count", "3", "--timeout", "10"]);
    let mut c = eventcast();
    c.args(["emit", "--stdin"]);
    let mut tx = net(&mut c, 19202).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let input = "{\"event\": \"sensor.a\", \"args\": [1]}\n{\"event\": \"other\"}\nnot json\n{\"event\": \"sensor.b\", \"args\": [{\"$date\": \"2020-01-01T00:00:00Z\"}]}\n{\"event\": \"sensor.c\"}\n";
    tx.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = tx.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a bad line is bad input: exit 2 at the end, the other lines sent");
    assert!(stderr.contains("stdin line 3"), "{stderr}");
    let (code, lines) = wait(rx, Duration::from_secs(15));
    assert_eq!(code, Some(0));
    let names: Vec<_> = lines.iter().map(|l| l["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["sensor.a", "sensor.b", "sensor.c"]);
    assert_eq!(lines[1]["args"], json!([{"$date": "2020-01-01T00:00:00Z"}]));
}

#[test]
fn timeout_exit_codes() {
    let (code, lines) = wait(listen(19203, &["--timeout", "0.3"]), Duration::from_secs(10));
    assert_eq!((code, lines.len()), (Some(0), 0), "timeout without --count is success");
    let (code, _) = wait(listen(19203, &["--timeout", "0.3", "--count", "1"]), Duration::from_secs(10));
    assert_eq!(code, Some(1), "--count not reached");
}

#[test]
fn repeat_sends_every_copy() {
    let rx = listen(19204, &["--count", "50", "--timeout", "10"]);
    assert!(emit(19204, &["tick", "--repeat", "50"]).status.success());
    let (code, lines) = wait(rx, Duration::from_secs(15));
    assert_eq!((code, lines.len()), (Some(0), 50));
}

#[test]
fn bad_input_gets_one_clear_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["emit", "x", "--group", "10.0.0.1", "--interface", "127.0.0.1"], "invalid group \"10.0.0.1\""),
        (&["emit", "x", "--group", "not-an-ip", "--interface", "127.0.0.1"], "invalid group \"not-an-ip\""),
        (&["emit", "x", "--interface", "nosuch0"], "invalid interface \"nosuch0\""),
        (&["emit", "x", "--interface", "127.0.0.1", "--max-payload-size", "10"], "invalid max_payload_size \"10\""),
        (&["emit", "x", "--interface", "127.0.0.1", "--port", "70000"], "70000"),
        (&["emit", "x", "--interface", "127.0.0.1", "--message-ttl", "soon"], "not a duration"),
        (&["emit", "", "--interface", "127.0.0.1"], "invalid event name"),
        (&["emit", "x", "{\"$oid\": 1}", "--interface", "127.0.0.1"], "not valid Extended JSON"),
        (&["listen", "a**", "--interface", "127.0.0.1"], "invalid pattern"),
        (
            &["emit", "x", "--interface", "127.0.0.1", "--log-level", "loud=="],
            "invalid value 'loud==' for '--log-level",
        ),
    ];
    for (args, want) in cases {
        let out = eventcast().args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr:?} should contain {want:?}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // options also come from the environment
    let out = eventcast().args(["emit", "x", "--interface", "127.0.0.1"]).env("EVENTCAST_TTL", "999").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid ttl \"999\""));
}

#[test]
fn demo_runs_and_succeeds() {
    let out = eventcast().args(["demo", "--port", "19205"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("demo ok") && stdout.contains("intact"), "{stdout}");
}

#[test]
fn encrypted_cli_with_key_from_environment_file_or_flag() {
    let key = "hex:000102030405060708090a0b0c0d0e0f";
    let mut c = eventcast();
    c.args(["listen", "--count", "2", "--timeout", "10"]).env("EVENTCAST_KEY", key);
    net(&mut c, 19206);
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("listening"));
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    // from the environment
    let mut e = eventcast();
    e.args(["emit", "sealed", "1"]).env("EVENTCAST_KEY", key);
    assert!(net(&mut e, 19206).output().unwrap().status.success());
    // from a file
    let file = std::env::temp_dir().join(format!("eventcast-key-{}", std::process::id()));
    std::fs::write(&file, format!("{key}\n")).unwrap();
    let mut e = eventcast();
    e.args(["emit", "sealed", "2", "--key-file"]).arg(&file);
    assert!(net(&mut e, 19206).output().unwrap().status.success());
    // on the command line: works, with a warning
    let mut e = eventcast();
    e.args(["emit", "ignored", "--key", "a passphrase nobody else has"]);
    let out = net(&mut e, 19206).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("visible to every user"));
    let (code, lines) = wait(child, Duration::from_secs(15));
    std::fs::remove_file(file).ok();
    assert_eq!(code, Some(0));
    let args: Vec<_> = lines.iter().map(|l| l["args"][0].clone()).collect();
    assert_eq!(args, [json!(1), json!(2)]);
    let bad = eventcast().args(["emit", "x", "--interface", "127.0.0.1", "--key", "hex:zz"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid key \"<redacted>\""));
}

#[test]
fn key_file_keyring_reads_old_and_new_keys() {
    let dir = std::env::temp_dir();
    let ring = dir.join(format!("eventcast-ring-{}", std::process::id()));
    let new_only = dir.join(format!("eventcast-new-{}", std::process::id()));
    std::fs::write(&ring, "1=old words\n2=new words\nuse=1\n").unwrap();
    std::fs::write(&new_only, "2=new words\n").unwrap();
    let mut c = eventcast();
    c.args(["listen", "--count", "1", "--timeout", "10", "--key-file"]).arg(&ring);
    net(&mut c, 19207);
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    let mut e = eventcast();
    e.args(["emit", "rotated", "--key-file"]).arg(&new_only);
    assert!(net(&mut e, 19207).output().unwrap().status.success());
    let (code, lines) = wait(child, Duration::from_secs(15));
    std::fs::remove_file(ring).ok();
    std::fs::remove_file(new_only).ok();
    assert_eq!(code, Some(0));
    assert_eq!(lines[0]["event"], "rotated");
}

/// Starts `eventcast listen …` and returns it with its stderr lines up to `listening`.
fn listen_verbose(port: u16, extra: &[&str]) -> (Child, Vec<String>) {
    let mut c = eventcast();
    c.arg("listen").args(extra);
    net(&mut c, port);
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "listen ended early: {lines:?}");
        lines.push(line.trim().to_owned());
        if line.contains("listening") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::stderr()));
    (child, lines)
}

fn address_after(lines: &[String], prefix: &str) -> String {
    let line = lines.iter().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix:?} in {lines:?}"));
    line[prefix.len()..].split_whitespace().next().unwrap().to_owned()
}

#[test]
fn console_stats_and_metrics_of_a_running_listener() {
    let (mut child, lines) = listen_verbose(19206, &["--repl", "--metrics", "127.0.0.1:0"]);
    let console = address_after(&lines, "eventcast: console on ");
    let metrics = address_after(&lines, "eventcast: metrics on http://").trim_end_matches("/metrics").to_owned();
    assert!(console.starts_with("127.0.0.1:"), "{lines:?}");
    assert!(emit(19206, &["hello", "1"]).status.success());

    // eventcast console -c: commands from a script; exit 1 if one fails.
    let out = eventcast().args(["console", &console, "-c", "emit from-console 2", "-c", "listeners"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok: emitted \"from-console\" with 1 argument") && text.contains("**"), "{text}");
    let out = eventcast().args(["console", &console, "-c", "frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("error: unknown command"));

    // eventcast console with piped input (no terminal) still works.
    let mut piped =
        eventcast().args(["console", &console]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    piped.stdin.take().unwrap().write_all(b"peers\nquit\n").unwrap();
    let out = piped.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("SENDER"), "{}", String::from_utf8_lossy(&out.stdout));

    // eventcast stats --json: counters of the running instance.
    let out = eventcast().args(["stats", &console, "--json"]).output().unwrap();
    assert!(out.status.success());
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["events_in"], json!(1), "{stats}");
    assert_eq!(stats["events_out"], json!(1));
    let out = eventcast().args(["stats", &console, "--peers"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("events_in") && text.contains("SENDER"), "{text}");

    // Prometheus text over HTTP.
    let mut http = std::net::TcpStream::connect(&metrics).unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut response = String::new();
    http.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"));
    assert!(response.contains("\neventcast_events_in_total 1\n"), "{response}");
    assert!(response.contains("eventcast_dropped_total{reason=\"forged\"} 0"));

    // Nothing listens where the console was not asked for.
    let out = eventcast().args(["stats", "127.0.0.1:1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the console at 127.0.0.1:1"));
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn console_token_from_the_environment() {
    let mut c = eventcast();
    c.env("EVENTCAST_REPL_TOKEN", "sesame");
    c.arg("listen").args(["--repl"]).args(["--interface", "127.0.0.1", "--group", "239.255.2.1", "--port", "19207"]);
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let console = address_after(&[line.trim().to_owned()], "eventcast: console on ");
    let without = eventcast().args(["stats", &console]).output().unwrap();
    assert_eq!(without.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&without.stderr).contains("needs a token"));
    let wrong = eventcast().args(["stats", &console, "--token", "nope"]).output().unwrap();
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("refused the token"));
    let right = eventcast().env("EVENTCAST_REPL_TOKEN", "sesame").args(["stats", &console]).output().unwrap();
    assert!(right.status.success() && String::from_utf8_lossy(&right.stdout).contains("console_auth_failed"));
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn log_levels_and_json_log_lines() {
    let (mut child, lines) =
        listen_verbose(19208, &["--log-level", "warn,eventcast=info", "--log-format", "json", "--repl"]);
    let started: Vec<Value> = lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let first = started.iter().find(|v| v["fields"]["message"] == "started").expect("a JSON 'started' line");
    assert_eq!((first["level"].as_str(), first["target"].as_str()), (Some("INFO"), Some("eventcast")));
    assert!(!lines.iter().any(|l| l.contains("eventcast::repl")), "repl stays at warn: {lines:?}");
    child.kill().unwrap();
    let _ = child.wait();
    let bad = eventcast().args(["--log-level", "disk=info", "listen"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown log component \"disk\""));
}

#[test]
fn bench_measures_and_reports_one_json_line() {
    let run = |args: &[&str]| {
        let out =
            eventcast().arg("bench").args(args).args(["--port", "19209", "--group", "239.255.2.9"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string(), text)
    };
    let (code, summary, json) = run(&["--events", "5000", "--size", "100"]);
    assert_eq!(code, Some(0), "{summary}");
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!((v["delivered"].as_u64(), v["lost"].as_u64()), (Some(5000), Some(0)), "{v}");
    for field in ["events_per_sec", "datagrams_per_sec", "mb_per_sec", "p50_us", "p99_us", "p999_us"] {
        assert!(v[field].as_f64().is_some_and(|x| x > 0.0), "{field} in {v}");
    }
    assert!(summary.contains("events/s per receiver"), "{summary}");
    let (code, _, json) =
        run(&["--events", "3000", "--size", "300", "--receivers", "2", "--encrypt", "--rate", "20000"]);
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!((code, v["delivered"].as_u64(), v["encrypted"].as_bool()), (Some(0), Some(6000), Some(true)), "{v}");
    let (_, _, json) = run(&["--raw", "--events", "2000", "--size", "128", "--rate", "20000"]);
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["mode"], json!("raw-udp"));
    let (code, err, _) = run(&["--size", "10"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--size 10 is below the smallest benchmark event (42 bytes)"), "{err}");
}

/// SIGTERM (docker stop, systemd, Kubernetes) stops `listen` as Ctrl-C does: the
/// instance stopped in order, `--stats` printed, exit 0.
#[test]
fn sigterm_and_sigint_stop_listen_in_order_with_its_stats() {
    for signal in ["TERM", "INT"] {
        let mut c = eventcast();
        c.args(["listen", "--stats"]);
        net(&mut c, 19230);
        let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("listening") {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "listen ended early");
        }
        assert!(emit(19230, &["before-stop", "1"]).status.success());
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut event = String::new();
        stdout.read_line(&mut event).unwrap();
        assert!(event.contains("before-stop"), "{event}");
        child.stdout = Some(stdout.into_inner());
        let kill = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        let (code, _) = wait(child, Duration::from_secs(10));
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        assert_eq!(code, Some(0), "SIG{signal}: {rest}");
        assert!(rest.contains(&format!("SIG{signal}: stopping")), "{rest}");
        let stats: Value =
            rest.lines().find_map(|l| serde_json::from_str(l).ok()).unwrap_or_else(|| panic!("no stats: {rest}"));
        assert_eq!(stats["events_in"], json!(1), "{stats}");
    }
}

#[test]
fn listen_count_zero_exits_at_once() {
    let (code, lines) = wait(listen(19231, &["--count", "0"]), Duration::from_secs(10));
    assert_eq!((code, lines.len()), (Some(0), 0));
}

/// `emit --stats` without `--linger` counts the event it sent (the counters are read after
/// the stop, which sends what is queued).
#[test]
fn emit_stats_count_what_was_sent() {
    let out = emit(19232, &["--stats", "--repeat", "3", "counted", "1"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stats: Value = stderr.lines().find_map(|l| serde_json::from_str(l).ok()).unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(stats["events_out"], json!(3), "{stats}");
}

/// `--interval` paces every send: repeats and `--stdin` lines alike.
#[test]
fn interval_paces_stdin_lines_too() {
    let mut c = eventcast();
    c.args(["emit", "--stdin", "--interval", "150ms"]);
    let mut tx = net(&mut c, 19233).stdin(Stdio::piped()).spawn().unwrap();
    let t0 = Instant::now();
    tx.stdin.take().unwrap().write_all(b"{\"event\": \"a\"}\n{\"event\": \"b\"}\n{\"event\": \"c\"}\n").unwrap();
    assert!(tx.wait().unwrap().success());
    assert!(t0.elapsed() >= Duration::from_millis(300), "three lines, two intervals: {:?}", t0.elapsed());
}

#[test]
fn integers_beyond_64_bits_are_refused() {
    let out = emit(19234, &["big", "12345678901234567890"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("12345678901234567890") && stderr.contains("64-bit"), "{stderr}");
}

/// `listen` lines have their keys in the documented order, and a document argument keeps
/// the order of its keys (BSON documents are ordered).
#[test]
fn listen_lines_keep_the_documented_key_order() {
    let mut rx = listen(19235, &["--count", "1", "--timeout", "10"]);
    assert!(emit(19235, &["ordered", r#"{"b": 1, "a": {"z": 1, "y": 2}}"#]).status.success());
    let mut line = String::new();
    BufReader::new(rx.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let keys: Vec<_> =
        ["\"event\"", "\"args\"", "\"sender\"", "\"from\""].iter().map(|k| line.find(k).unwrap()).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{line}");
    assert!(line.contains(r#"[{"b":1,"a":{"z":1,"y":2}}]"#), "{line}");
    assert_eq!(rx.wait().unwrap().code(), Some(0));
}

/// A long `emit --repeat` stops in order on SIGTERM: what it emitted goes out, its stats are
/// printed, exit 0.
#[test]
fn sigterm_stops_a_repeating_emit_in_order() {
    let mut c = eventcast();
    // --repl: its "console on" line says the instance runs (and the signals are caught)
    c.args(["emit", "--repeat", "100000", "--interval", "5ms", "--stats", "--repl", "tick"]);
    let mut child = net(&mut c, 19236).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("console on") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "emit ended early");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    let mut stderr_text = String::new();
    stderr.read_to_string(&mut stderr_text).unwrap();
    let stderr = stderr_text;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM: stopping"), "{stderr}");
    let stats: Value = stderr.lines().find_map(|l| serde_json::from_str(l).ok()).unwrap_or_else(|| panic!("{stderr}"));
    let sent = stats["events_out"].as_u64().unwrap();
    assert!(sent > 0 && sent < 100_000, "{stats}");
}

/// The transport flags' contract: bad settings get one line naming them, exit 2.
#[test]
fn bad_transport_flags_exit_2_with_one_clear_line() {
    let cases: [(&[&str], &str); 5] = [
        (&["gateway", "--interface", "127.0.0.1"], "--nats"),
        (&["gateway", "--interface", "127.0.0.1", "--nats", "nats://127.0.0.1:1", "--no-multicast"], "--no-multicast"),
        (&["listen", "--interface", "127.0.0.1", "--no-multicast"], "--peer"),
        (&["listen", "--interface", "127.0.0.1", "--peer", "nohost"], "nohost"),
        (&["emit", "--interface", "127.0.0.1", "--nats", "nats://[oops", "x"], "[oops"),
    ];
    for (args, named) in cases {
        let out = eventcast().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named) && stderr.lines().count() == 1, "{args:?}: {stderr}");
    }
}
