//! The rules of `nft -j list ruleset`, judged against our datagrams.

use std::net::IpAddr;

use serde_json::Value;

use super::{Action, Chain, Cond, Rule, Target};

/// L4 protocols that are not UDP: a rule about them is not about us.
const OTHER_L4: &[&str] = &["tcp", "icmp", "icmpv6", "sctp", "dccp", "udplite", "esp", "ah", "comp", "igmp", "gre"];

/// The input-side chains (hooks input, prerouting, ingress) of the families that see our
/// datagrams, with their rules.
pub fn chains(json: &str, target: &Target) -> Result<Vec<Chain>, String> {
    let root: Value = serde_json::from_str(json).map_err(|e| format!("not JSON ({e})"))?;
    let items = root.get("nftables").and_then(Value::as_array).ok_or("no \"nftables\" array")?;
    let v4 = target.group.is_ipv4();
    let mut chains: Vec<(String, String, String, Chain)> = Vec::new();
    for chain in items.iter().filter_map(|i| i.get("chain")) {
        let s = |k: &str| chain.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (family, table, name, hook) = (s("family"), s("table"), s("name"), s("hook"));
        let family_ok = match family.as_str() {
            "ip" => v4,
            "ip6" => !v4,
            "inet" | "netdev" => true,
            _ => false,
        };
        if !family_ok || !matches!(hook.as_str(), "input" | "prerouting" | "ingress") {
            continue;
        }
        let place = format!("nftables table {family} {table} chain {name}");
        let ports = target.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        let accept = format!("nft insert rule {family} {table} {name} udp dport {{ {ports} }} accept");
        let policy_drop = s("policy") == "drop";
        chains.push((family, table, name, Chain { place, policy_drop, accept, rules: Vec::new() }));
    }
    for rule in items.iter().filter_map(|i| i.get("rule")) {
        let s = |k: &str| rule.get(k).and_then(Value::as_str).unwrap_or_default();
        let Some((family, table, name, chain)) =
            chains.iter_mut().find(|(f, t, n, _)| f == s("family") && t == s("table") && n == s("chain"))
        else {
            continue;
        };
        let handle = rule.get("handle").and_then(Value::as_u64).unwrap_or(0);
        let exprs = rule.get("expr").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let mut conds = Vec::new();
        let mut text = Vec::new();
        let mut action = Action::Other;
        for e in exprs {
            if let Some(m) = e.get("match") {
                let (cond, t) = judge_match(m, target);
                conds.push(cond);
                text.push(t);
            } else if e.get("drop").is_some() || e.get("reject").is_some() {
                action = Action::Drop;
                text.push(if e.get("drop").is_some() { "drop".into() } else { "reject".into() });
            } else if e.get("accept").is_some() {
                action = Action::Accept;
                text.push("accept".into());
            } else if let Some(key) = e.as_object().and_then(|o| o.keys().next()) {
                if !matches!(key.as_str(), "counter" | "log" | "comment") {
                    conds.push(Cond::Maybe(key.clone()));
                }
                text.push(key.clone());
            }
        }
        chain.rules.push(Rule {
            place: format!("nftables table {family} {table} chain {name} handle {handle}"),
            text: text.join(" "),
            conds,
            action,
            delete: format!("nft delete rule {family} {table} {name} handle {handle}"),
        });
    }
    Ok(chains.into_iter().map(|(_, _, _, c)| c).collect())
}

/// A value of the right side, flattened: sets, lists and anonymous sets become their members.
fn members(right: &Value) -> Vec<&Value> {
    match right {
        Value::Array(a) => a.iter().flat_map(members).collect(),
        Value::Object(o) if o.contains_key("set") => o.get("set").map(members).unwrap_or_default(),
        other => vec![other],
    }
}

/// Whether `v` (a number, a range, or a name) is the port.
fn port_in(v: &Value, port: u16) -> bool {
    if let Some(n) = v.as_u64() {
        return n == u64::from(port);
    }
    if let Some([lo, hi]) = v.get("range").and_then(Value::as_array).map(Vec::as_slice) {
        return lo.as_u64().zip(hi.as_u64()).is_some_and(|(lo, hi)| (lo..=hi).contains(&u64::from(port)));
    }
    false
}

/// Whether `v` (an address or a prefix) holds the group; `None` when it cannot say.
fn addr_in(v: &Value, group: IpAddr) -> Option<bool> {
    if let Some(s) = v.as_str() {
        return s.parse::<IpAddr>().ok().map(|a| a == group);
    }
    let p = v.get("prefix")?;
    let addr: IpAddr = p.get("addr")?.as_str()?.parse().ok()?;
    let len = u32::try_from(p.get("len")?.as_u64()?).ok()?;
    Some(match (addr, group) {
        (IpAddr::V4(a), IpAddr::V4(g)) => len <= 32 && (len == 0 || (u32::from(a) ^ u32::from(g)) >> (32 - len) == 0),
        (IpAddr::V6(a), IpAddr::V6(g)) => {
            len <= 128 && (len == 0 || (u128::from(a) ^ u128::from(g)) >> (128 - len) == 0)
        }
        _ => false,
    })
}

/// Whether `v` names UDP (as a name or as protocol number 17).
fn is_udp(v: &Value) -> bool {
    v.as_str() == Some("udp") || v.as_u64() == Some(17)
}

/// Judges one `match` expression; also returns it as text.
fn judge_match(m: &Value, target: &Target) -> (Cond, String) {
    let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
    let left = m.get("left").unwrap_or(&Value::Null);
    let right = m.get("right").unwrap_or(&Value::Null);
    let text = format!("{} {op} {}", render(left), render(right));
    let vals = members(right);
    let any = |f: &dyn Fn(&Value) -> bool| vals.iter().any(|v| f(v));
    let positive = match op {
        "==" | "in" => true,
        "!=" => false,
        _ => return (Cond::Maybe(text.clone()), text),
    };
    let yes_if = |hit: bool| if hit == positive { Cond::Yes } else { Cond::No };
    let cond = if let Some(p) = left.get("payload") {
        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or_default();
        let field = p.get("field").and_then(Value::as_str).unwrap_or_default();
        match (proto, field) {
            ("udp" | "th", "dport") => yes_if(target.ports.iter().any(|&port| any(&|v| port_in(v, port)))),
            (p, _) if OTHER_L4.contains(&p) => Cond::No,
            ("ip", _) if !target.group.is_ipv4() => Cond::No,
            ("ip6", _) if target.group.is_ipv4() => Cond::No,
            ("ip", "protocol") | ("ip6", "nexthdr") => yes_if(any(&is_udp)),
            ("ip" | "ip6", "daddr") => {
                match vals.iter().map(|v| addr_in(v, target.group)).collect::<Option<Vec<_>>>() {
                    Some(hits) => yes_if(hits.contains(&true)),
                    None => Cond::Maybe(text.clone()),
                }
            }
            _ => Cond::Maybe(text.clone()),
        }
    } else if let Some(key) = left.get("meta").and_then(|m| m.get("key")).and_then(Value::as_str) {
        match key {
            "l4proto" => yes_if(any(&is_udp)),
            "nfproto" => yes_if(any(&|v| v.as_str() == Some(if target.group.is_ipv4() { "ipv4" } else { "ipv6" }))),
            "pkttype" => yes_if(any(&|v| v.as_str() == Some("multicast"))),
            "iifname" | "iif" => {
                match vals.iter().map(|v| v.as_str().and_then(|s| target.iface_matches(s))).collect::<Option<Vec<_>>>()
                {
                    Some(hits) => yes_if(hits.contains(&true)),
                    None => Cond::Maybe(text.clone()),
                }
            }
            _ => Cond::Maybe(text.clone()),
        }
    } else {
        Cond::Maybe(text.clone())
    };
    (cond, text)
}

/// An expression of a match, short: `udp dport`, `meta iifname`, `{9000, 9100-9200}`.
fn render(v: &Value) -> String {
    if let Some(p) = v.get("payload") {
        let s = |k| p.get(k).and_then(Value::as_str).unwrap_or("?");
        return format!("{} {}", s("protocol"), s("field"));
    }
    for kind in ["meta", "ct"] {
        if let Some(key) = v.get(kind).and_then(|m| m.get("key")).and_then(Value::as_str) {
            return format!("{kind} {key}");
        }
    }
    if let Some([lo, hi]) = v.get("range").and_then(Value::as_array).map(Vec::as_slice) {
        return format!("{}-{}", render(lo), render(hi));
    }
    if let Some(p) = v.get("prefix") {
        return format!(
            "{}/{}",
            render(p.get("addr").unwrap_or(&Value::Null)),
            render(p.get("len").unwrap_or(&Value::Null))
        );
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Array(_) => format!("{{{}}}", members(v).iter().map(|m| render(m)).collect::<Vec<_>>().join(", ")),
        Value::Object(o) if o.contains_key("set") => render(o.get("set").unwrap_or(&Value::Null)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::super::report::Status;
    use super::super::judge;
    use super::*;

    fn rule(family: &str, handle: u64, expr: &str) -> String {
        format!(
            r#"{{"rule": {{"family": "{family}", "table": "t", "chain": "input", "handle": {handle}, "expr": [{expr}]}}}}"#
        )
    }

    fn ruleset(policy: &str, rules: &[String]) -> String {
        format!(
            r#"{{"nftables": [{{"metainfo": {{}}}}, {{"table": {{"family": "inet", "name": "t"}}}},
            {{"chain": {{"family": "inet", "table": "t", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "{policy}"}}}},
            {{"chain": {{"family": "inet", "table": "t", "name": "output", "handle": 9, "type": "filter", "hook": "output", "prio": 0, "policy": "drop"}}}}
            {}]}}"#,
            rules.iter().map(|r| format!(", {r}")).collect::<String>()
        )
    }

    const DPORT: &str =
        r#"{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 9800}}"#;
    const IIF: &str = r#"{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}}"#;
    const NUMGEN: &str =
        r#"{"match": {"op": "<", "left": {"numgen": {"mode": "random", "mod": 100, "offset": 0}}, "right": 5}}"#;
    const DROP: &str = r#"{"counter": {"packets": 0, "bytes": 0}}, {"drop": null}"#;

    fn target(port: u16) -> Target {
        Target { ports: vec![port], group: "239.255.0.99".parse().unwrap(), iface: Some("eth0".into()) }
    }

    fn statuses(json: &str, port: u16) -> Vec<Status> {
        judge(&chains(json, &target(port)).unwrap(), &[port]).iter().map(|f| f.status).collect()
    }

    #[test]
    fn drop_of_the_port_fails_and_names_the_rule() {
        let json = ruleset("accept", &[rule("inet", 2, &format!("{IIF}, {DPORT}, {DROP}"))]);
        let chains = chains(&json, &target(9800)).unwrap();
        assert_eq!(chains.len(), 1, "the output chain is left out");
        let f = judge(&chains, &[9800]);
        assert_eq!(f[0].status, Status::Fail);
        assert!(f[0].detail.contains("nftables table inet t chain input handle 2"), "{}", f[0].detail);
        assert!(f[0].detail.contains("meta iifname == eth0 udp dport == 9800 counter drop"), "{}", f[0].detail);
        assert_eq!(f[0].fix, "nft delete rule inet t input handle 2");
        assert!(statuses(&json, 9000).is_empty(), "another port");
    }

    #[test]
    fn random_drop_warns_and_other_traffic_is_ignored() {
        let json = ruleset("accept", &[rule("inet", 2, &format!("{IIF}, {DPORT}, {NUMGEN}, {DROP}"))]);
        assert_eq!(statuses(&json, 9800), [Status::Warn]);
        let tcp =
            r#"{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 9800}}"#;
        let eth1 = IIF.replace("eth0", "eth1");
        let json = ruleset(
            "accept",
            &[rule("inet", 3, &format!("{tcp}, {DROP}")), rule("inet", 4, &format!("{eth1}, {DROP}"))],
        );
        assert!(statuses(&json, 9800).is_empty());
        assert!(statuses(&ruleset("accept", &[rule("ip6", 5, DROP)]), 9800).is_empty(), "ip6 family, IPv4 group");
    }

    #[test]
    fn sets_ranges_protocols_prefixes_and_policies() {
        let set = r#"{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": {"set": [9000, {"range": [9100, 9200]}]}}}"#;
        let json = ruleset("accept", &[rule("inet", 2, &format!("{set}, {{\"reject\": {{\"type\": \"icmpx\"}}}}"))]);
        assert_eq!(statuses(&json, 9150), [Status::Fail]);
        assert_eq!(statuses(&json, 9000), [Status::Fail]);
        assert!(statuses(&json, 9001).is_empty());
        let udp = r#"{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "udp"}}"#;
        assert_eq!(statuses(&ruleset("accept", &[rule("inet", 2, &format!("{udp}, {DROP}"))]), 1), [Status::Fail]);
        let mc = r#"{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "224.0.0.0", "len": 4}}}}"#;
        assert_eq!(statuses(&ruleset("accept", &[rule("inet", 2, &format!("{mc}, {DROP}"))]), 1), [Status::Fail]);
        let other = mc.replace("224.0.0.0", "10.0.0.0").replace("\"len\": 4", "\"len\": 8");
        assert!(statuses(&ruleset("accept", &[rule("inet", 2, &format!("{other}, {DROP}"))]), 1).is_empty());
        let not = DPORT.replace("\"==\"", "\"!=\"");
        assert_eq!(statuses(&ruleset("accept", &[rule("inet", 2, &format!("{not}, {DROP}"))]), 1), [Status::Fail]);
        assert_eq!(statuses(&ruleset("drop", &[]), 9800), [Status::Warn]);
        let accept = format!("{DPORT}, {{\"accept\": null}}");
        assert!(statuses(&ruleset("drop", &[rule("inet", 2, &accept)]), 9800).is_empty());
        assert_eq!(statuses(&ruleset("accept", &[rule("inet", 2, DROP)]), 1), [Status::Fail], "drops all input");
    }

    #[test]
    fn bad_json_is_an_error_not_a_panic() {
        assert!(chains("nope", &target(1)).is_err());
        assert!(chains("{}", &target(1)).is_err());
        assert!(chains(r#"{"nftables": [1, {"chain": 2}, {"rule": {"expr": 3}}]}"#, &target(1)).unwrap().is_empty());
        let weird = ruleset(
            "accept",
            &[rule(
                "inet",
                2,
                r#"{"match": {"left": 1}}, {"match": {"op": "==", "left": {"payload": {}}, "right": {"range": [1]}}}, 7, {"drop": null}"#,
            )],
        );
        assert_eq!(statuses(&weird, 1), [Status::Warn]);
    }
}
