//! Check 5: firewall rules (nftables, iptables) that drop eventcast's datagrams on the way in.
//!
//! Each tool's rules are read into [`Chain`]s of [`Rule`]s whose conditions are judged
//! against our traffic (UDP to the port, to the group, arriving on the chosen interface);
//! then the input-side chains are walked in order.

mod iptables;
mod nft;

use std::net::IpAddr;

use super::super::report::{Check, Status};
use super::super::sys::{Sys, Tool};
use super::Ctx;

/// What our datagrams look like to a firewall.
#[derive(Debug, Clone)]
pub struct Target {
    /// UDP destination ports.
    pub ports: Vec<u16>,
    /// Destination address.
    pub group: IpAddr,
    /// The interface they arrive on, when known.
    pub iface: Option<String>,
}

impl Target {
    /// Whether `pattern` (an interface name, `*` or `+` at the end for a prefix) names our
    /// interface: `None` when we do not know it.
    fn iface_matches(&self, pattern: &str) -> Option<bool> {
        let iface = self.iface.as_deref()?;
        Some(match pattern.strip_suffix(['*', '+']) {
            Some(prefix) => iface.starts_with(prefix),
            None => iface == pattern,
        })
    }
}

/// One condition of a rule, judged against our datagrams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// Our datagrams meet it.
    Yes,
    /// They do not: the rule is not about us.
    No,
    /// It depends (on the sender, on chance, on connection state…): what it is.
    Maybe(String),
}

/// What a rule does with what it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// drop or reject.
    Drop,
    /// accept.
    Accept,
    /// Anything else (jump, log, counter only…).
    Other,
}

/// One rule of an input-side chain.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where it is, for people: `nftables table inet f chain input handle 4`.
    pub place: String,
    /// The rule as text.
    pub text: String,
    /// Its conditions.
    pub conds: Vec<Cond>,
    /// What it does.
    pub action: Action,
    /// The command that deletes it.
    pub delete: String,
}

/// An input-side chain (hook input, prerouting or ingress).
#[derive(Debug, Clone)]
pub struct Chain {
    /// Where it is, for people.
    pub place: String,
    /// Its policy drops what no rule accepts.
    pub policy_drop: bool,
    /// The command that would accept our datagrams in it.
    pub accept: String,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

/// A problem found in the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Fail (always drops) or Warn (drops under conditions, or by policy).
    pub status: Status,
    /// What drops our datagrams.
    pub detail: String,
    /// How to stop it.
    pub fix: String,
}

/// Walks the chains in order: an unconditional accept of our datagrams ends a chain, a drop
/// that applies to them is a finding.
pub fn judge(chains: &[Chain], ports: &[u16]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let port_list = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    for chain in chains {
        let mut settled = false;
        for rule in &chain.rules {
            if rule.conds.contains(&Cond::No) {
                continue;
            }
            let maybe: Vec<&str> = rule
                .conds
                .iter()
                .filter_map(|c| if let Cond::Maybe(m) = c { Some(m.as_str()) } else { None })
                .collect();
            match rule.action {
                Action::Drop if maybe.is_empty() => {
                    findings.push(Finding {
                        status: Status::Fail,
                        detail: format!("{} drops UDP to port {port_list}: {}", rule.place, rule.text),
                        fix: rule.delete.clone(),
                    });
                    settled = true;
                }
                Action::Drop => findings.push(Finding {
                    status: Status::Warn,
                    detail: format!(
                        "{} may drop UDP to port {port_list} (depending on {}): {}",
                        rule.place,
                        maybe.join(", "),
                        rule.text
                    ),
                    fix: rule.delete.clone(),
                }),
                Action::Accept if maybe.is_empty() => settled = true,
                _ => {}
            }
            if settled {
                break;
            }
        }
        if !settled && chain.policy_drop {
            findings.push(Finding {
                status: Status::Warn,
                detail: format!("{} drops by policy and no rule there accepts UDP to port {port_list}", chain.place),
                fix: chain.accept.clone(),
            });
        }
    }
    findings
}

/// Check 5: reads the rules of nftables and iptables, if installed.
pub fn check(ctx: &Ctx, sys: &Sys, chosen: Option<&str>) -> Check {
    const NAME: &str = "firewall";
    let target = Target { ports: ctx.ports.clone(), group: ctx.group, iface: chosen.map(str::to_owned) };
    let mut notes = Vec::new();
    let mut findings = Vec::new();
    let mut read_any = false;
    let mut needs_root = false;
    for (tool, label) in [(&sys.nft, "nft"), (&sys.iptables, "iptables-save")] {
        match tool {
            Tool::Missing => notes.push(format!("{label} not installed")),
            Tool::NeedsRoot => {
                needs_root = true;
                notes.push(format!("{label} needs root (CAP_NET_ADMIN)"));
            }
            Tool::Failed(e) => notes.push(format!("{label} failed: {e}")),
            Tool::Output(text) => {
                let chains =
                    if label == "nft" { nft::chains(text, &target) } else { Ok(iptables::chains(text, &target)) };
                match chains {
                    Ok(chains) => {
                        read_any = true;
                        notes.push(format!("{label}: {} input-side chains", chains.len()));
                        findings.extend(judge(&chains, &ctx.ports));
                    }
                    Err(e) => notes.push(format!("cannot read {label}'s output: {e}")),
                }
            }
        }
    }
    let notes = notes.join("; ");
    if !read_any {
        let detail = if needs_root {
            format!("needs root (CAP_NET_ADMIN) to read the rules ({notes})")
        } else if matches!((&sys.nft, &sys.iptables), (Tool::Missing, Tool::Missing)) {
            "no firewall tool installed (neither nft nor iptables-save): rules not checked".to_owned()
        } else {
            format!("rules not read ({notes})")
        };
        return Check::skipped(NAME, detail);
    }
    let worst = findings.iter().map(|f| f.status).max();
    let detail = findings.iter().map(|f| f.detail.as_str()).collect::<Vec<_>>().join("; ");
    let fix = findings.iter().map(|f| f.fix.as_str()).collect::<Vec<_>>().join("; ");
    match worst {
        Some(Status::Fail) => Check::fail(NAME, detail, fix),
        Some(_) => Check::warn(NAME, detail, fix),
        None => {
            let ports = ctx.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
            Check::ok(NAME, format!("no input rule drops UDP to port {ports} ({notes})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake;
    use super::*;

    fn rule(conds: Vec<Cond>, action: Action) -> Rule {
        Rule { place: "rule".into(), text: "text".into(), conds, action, delete: "del".into() }
    }

    fn chain(policy_drop: bool, rules: Vec<Rule>) -> Chain {
        Chain { place: "chain".into(), policy_drop, accept: "accept".into(), rules }
    }

    #[test]
    fn chains_are_walked_in_order() {
        let drop = rule(vec![Cond::Yes], Action::Drop);
        let maybe = rule(vec![Cond::Maybe("numgen".into())], Action::Drop);
        let accept = rule(vec![Cond::Yes], Action::Accept);
        let other = rule(vec![Cond::No], Action::Drop);
        assert_eq!(judge(&[chain(false, vec![other.clone(), drop.clone()])], &[9000])[0].status, Status::Fail);
        assert!(judge(&[chain(false, vec![accept.clone(), drop.clone()])], &[9000]).is_empty());
        let f = judge(&[chain(false, vec![maybe, drop])], &[9000]);
        assert_eq!(f.iter().map(|f| f.status).collect::<Vec<_>>(), [Status::Warn, Status::Fail]);
        assert!(f[0].detail.contains("depending on numgen"));
        assert_eq!(judge(&[chain(true, vec![other])], &[9000])[0].status, Status::Warn);
        assert!(judge(&[chain(true, vec![accept])], &[9000]).is_empty());
    }

    #[test]
    fn missing_tools_and_root_are_skipped() {
        let ctx = fake::ctx("eth0");
        let mut sys = fake::sys();
        let c = check(&ctx, &sys, Some("eth0"));
        assert!(c.status == Status::Skipped && c.detail.contains("no firewall tool installed"), "{}", c.detail);
        sys.nft = Tool::NeedsRoot;
        let c = check(&ctx, &sys, Some("eth0"));
        assert!(c.status == Status::Skipped && c.detail.contains("needs root (CAP_NET_ADMIN)"), "{}", c.detail);
        sys.iptables =
            Tool::Output("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp --dport 9000 -j DROP\nCOMMIT\n".into());
        let c = check(&ctx, &sys, Some("eth0"));
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("-A INPUT -p udp --dport 9000 -j DROP"), "{}", c.detail);
        assert_eq!(c.fix.as_deref(), Some("iptables -D INPUT -p udp --dport 9000 -j DROP"));
        sys.nft = Tool::Output("{\"nftables\": []}".into());
        sys.iptables = Tool::Missing;
        assert_eq!(check(&ctx, &sys, Some("eth0")).status, Status::Ok);
    }
}
