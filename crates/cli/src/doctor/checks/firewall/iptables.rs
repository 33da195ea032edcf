//! The rules of `iptables-save`, judged against our datagrams.

use std::net::Ipv4Addr;

use super::{Action, Chain, Cond, Rule, Target};

/// Options whose value says nothing about our datagrams.
const NEUTRAL: &[&str] = &["-m", "--match", "--comment"];

/// Splits a line into words, keeping "quoted strings" together.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

/// Whether `spec` (`9000`, `9000:9100`, `9000,9100:9200`) holds the port.
fn port_in(spec: &str, port: u16) -> bool {
    spec.split(',').any(|part| match part.split_once(':') {
        Some((lo, hi)) => {
            let lo = if lo.is_empty() { Some(0) } else { lo.parse::<u16>().ok() };
            let hi = if hi.is_empty() { Some(u16::MAX) } else { hi.parse::<u16>().ok() };
            lo.zip(hi).is_some_and(|(lo, hi)| (lo..=hi).contains(&port))
        }
        None => part.parse::<u16>().is_ok_and(|p| p == port),
    })
}

/// Whether `spec` (`224.0.0.0/4`, `239.255.0.99`, `239.255.0.99/32`) holds the group.
fn addr_in(spec: &str, group: Ipv4Addr) -> Option<bool> {
    let (addr, len) = spec.split_once('/').unwrap_or((spec, "32"));
    let addr: Ipv4Addr = addr.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    Some(len == 0 || (u32::from(addr) ^ u32::from(group)) >> (32 - len) == 0)
}

/// The input-side chains (INPUT of every table, PREROUTING of raw and mangle) with their
/// rules; IPv4 only (iptables-save), so nothing for an IPv6 group.
pub fn chains(text: &str, target: &Target) -> Vec<Chain> {
    let std::net::IpAddr::V4(group) = target.group else { return Vec::new() };
    let ports = target.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    let mut table = String::new();
    let mut chains: Vec<(String, String, Chain)> = Vec::new();
    let input_side = |table: &str, chain: &str| chain == "INPUT" || (chain == "PREROUTING" && table != "nat");
    for line in text.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_owned();
        } else if let Some(policy) = line.strip_prefix(':') {
            let mut f = policy.split_whitespace();
            let (Some(name), Some(verdict)) = (f.next(), f.next()) else { continue };
            if input_side(&table, name) {
                let t = if table == "filter" { String::new() } else { format!(" -t {table}") };
                chains.push((
                    table.clone(),
                    name.to_owned(),
                    Chain {
                        place: format!("iptables table {table} chain {name}"),
                        policy_drop: verdict == "DROP",
                        accept: format!("iptables{t} -I {name} -p udp -m multiport --dports {ports} -j ACCEPT"),
                        rules: Vec::new(),
                    },
                ));
            }
        } else {
            let mut w = words(line);
            if w.first().is_some_and(|f| f.starts_with('[')) {
                w.remove(0); // counters of iptables-save -c
            }
            if w.len() < 2 || w[0] != "-A" {
                continue;
            }
            let Some((_, _, chain)) = chains.iter_mut().find(|(t, n, _)| *t == table && *n == w[1]) else { continue };
            let (conds, action) = judge(&w[2..], target, group);
            let t = if table == "filter" { String::new() } else { format!(" -t {table}") };
            let rest = w[1..].iter().map(|x| shell_word(x)).collect::<Vec<_>>();
            chain.rules.push(Rule {
                place: format!("iptables table {table} chain {}", w[1]),
                text: line.to_owned(),
                conds,
                action,
                delete: format!("iptables{t} -D {}", rest.join(" ")),
            });
        }
    }
    chains.into_iter().map(|(_, _, c)| c).collect()
}

/// A word safe to paste into a shell: as it is when it holds only plain characters, else
/// in single quotes (a quote inside written `'\''`), so `$(…)`, backticks and spaces in a
/// rule's comment stay text.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:,=+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Judges the options of one rule.
fn judge(words: &[String], target: &Target, group: Ipv4Addr) -> (Vec<Cond>, Action) {
    let mut conds = Vec::new();
    let mut action = Action::Other;
    let mut negate = false;
    let mut i = 0;
    while i < words.len() {
        let opt = words[i].as_str();
        let value = words.get(i + 1).map(String::as_str).unwrap_or_default();
        i += 1;
        if opt == "!" {
            negate = true;
            continue;
        }
        let yes_if = |hit: bool| if hit != negate { Cond::Yes } else { Cond::No };
        let takes_value = opt.starts_with('-');
        match opt {
            "-p" | "--protocol" => conds.push(yes_if(matches!(value, "udp" | "17" | "all" | "0"))),
            "-i" | "--in-interface" => conds.push(match target.iface_matches(value) {
                Some(hit) => yes_if(hit),
                None => Cond::Maybe(format!("-i {value}")),
            }),
            "-d" | "--destination" => conds.push(match addr_in(value, group) {
                Some(hit) => yes_if(hit),
                None => Cond::Maybe(format!("-d {value}")),
            }),
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                conds.push(yes_if(target.ports.iter().any(|&p| port_in(value, p))))
            }
            "--pkt-type" => conds.push(yes_if(value == "multicast")),
            "-j" | "--jump" | "-g" | "--goto" => {
                action = match value {
                    "DROP" | "REJECT" => Action::Drop,
                    "ACCEPT" => Action::Accept,
                    _ => Action::Other,
                };
                break; // what follows are the target's options
            }
            o if NEUTRAL.contains(&o) => {}
            o if o.starts_with('-') => conds.push(Cond::Maybe(o.trim_start_matches('-').to_owned())),
            _ => {}
        }
        negate = false;
        if takes_value {
            // skip the option's values (options such as --ctstate take one, -m takes one)
            while i < words.len() && !words[i].starts_with('-') && words[i] != "!" {
                i += 1;
            }
        }
    }
    (conds, action)
}

#[cfg(test)]
mod tests {
    use super::super::super::super::report::Status;
    use super::super::judge as walk;
    use super::*;

    fn target() -> Target {
        Target { ports: vec![9000], group: "239.255.0.99".parse().unwrap(), iface: Some("eth0".into()) }
    }

    fn statuses(rules: &str) -> Vec<Status> {
        let text = format!(
            "# Generated\n*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [1:2]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}\nCOMMIT\n"
        );
        walk(&chains(&text, &target()), &[9000]).iter().map(|f| f.status).collect()
    }

    #[test]
    fn rules_that_drop_our_datagrams() {
        assert_eq!(statuses("-A INPUT -p udp -m udp --dport 9000 -j DROP"), [Status::Fail]);
        assert_eq!(
            statuses(
                "-A INPUT -i eth0 -p udp -m multiport --dports 80,8990:9010 -j REJECT --reject-with icmp-port-unreachable"
            ),
            [Status::Fail]
        );
        assert_eq!(statuses("-A INPUT -p udp -j DROP"), [Status::Fail]);
        assert_eq!(statuses("-A INPUT -i eth0 -j DROP"), [Status::Fail]);
        assert_eq!(statuses("-A INPUT -d 224.0.0.0/4 -j DROP"), [Status::Fail]);
        assert_eq!(statuses("-A INPUT -p udp ! --dport 22 -j DROP"), [Status::Fail]);
        assert_eq!(
            statuses("[5:300] -A INPUT -p udp --dport 9000 -m statistic --mode random --probability 0.1 -j DROP"),
            [Status::Warn]
        );
        assert_eq!(statuses("-A INPUT -s 10.0.0.9/32 -p udp -j DROP"), [Status::Warn]);
    }

    #[test]
    fn rules_that_do_not() {
        assert!(statuses("-A INPUT -p tcp --dport 9000 -j DROP").is_empty());
        assert!(statuses("-A INPUT -i eth1 -j DROP").is_empty());
        assert!(statuses("-A INPUT -p udp --dport 9001 -j DROP").is_empty());
        assert!(statuses("-A INPUT ! -i eth0 -j DROP").is_empty());
        assert!(statuses("-A INPUT -d 10.0.0.0/8 -j DROP").is_empty());
        assert!(statuses("-A INPUT -p udp -m comment --comment \"let it in\" -j ACCEPT\n-A INPUT -j DROP").is_empty());
        assert!(statuses("-A FORWARD -j DROP\n-A OUTPUT -j DROP").is_empty());
        assert!(statuses("garbage\n-A\n-A INPUT\n-A INPUT -j").is_empty());
    }

    #[test]
    fn pasted_words_stay_text() {
        assert_eq!(shell_word("INPUT"), "INPUT");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn policy_drop_and_fixes() {
        let text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -m comment --comment \"no udp\" -p udp --dport 9000 -j DROP\nCOMMIT\n";
        let f = walk(&chains(text, &target()), &[9000]);
        assert_eq!(f[0].status, Status::Fail);
        assert_eq!(f[0].fix, "iptables -D INPUT -m comment --comment 'no udp' -p udp --dport 9000 -j DROP");
        let f = walk(&chains("*filter\n:INPUT DROP [0:0]\nCOMMIT\n", &target()), &[9000]);
        assert_eq!(
            (f[0].status, f[0].fix.as_str()),
            (Status::Warn, "iptables -I INPUT -p udp -m multiport --dports 9000 -j ACCEPT")
        );
        let mut v6 = target();
        v6.group = "ff15::1".parse().unwrap();
        assert!(chains("*filter\n:INPUT DROP [0:0]\n", &v6).is_empty());
        assert_eq!(words("a \"b c\" d"), ["a", "b c", "d"]);
        assert!(port_in(":100", 5) && port_in("65000:", 65535) && !port_in("x:y", 1));
    }
}
