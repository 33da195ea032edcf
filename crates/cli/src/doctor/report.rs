//! A check's verdict, and the two ways of printing a list of them (lines for people, one
//! JSON object for scripts).

use serde::Serialize;

/// How a check came out. Only `Fail` makes `eventcast doctor` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Not checked (a tool is missing, or the check does not apply), with the reason.
    Skipped,
    /// Works, with a caveat worth knowing.
    Warn,
    /// Events will not arrive until this is fixed.
    Fail,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "ok  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skipped => "skip",
        }
    }
}

/// One check's outcome: what was found (`detail`) and, when not ok, what to do (`fix`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The check's name: interfaces, interface, route, rp_filter, firewall, igmp, buffers,
    /// environment, self-test, probe.
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// A command or explanation that fixes it; `None` when there is nothing to fix.
    pub fix: Option<String>,
}

impl Check {
    /// A check that passed.
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Ok, detail: detail.into(), fix: None }
    }

    /// A check that was not run, and why.
    pub fn skipped(name: &str, detail: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Skipped, detail: detail.into(), fix: None }
    }

    /// A caveat, with its fix.
    pub fn warn(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Warn, detail: detail.into(), fix: Some(fix.into()) }
    }

    /// A failure, with its fix.
    pub fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }
}

/// True when no check failed.
pub fn passed(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Fail)
}

/// The `--json` output: `{"checks": [{"name", "status", "detail", "fix"}, …]}`.
pub fn to_json(checks: &[Check]) -> String {
    serde_json::json!({ "checks": checks }).to_string()
}

/// The human output: a heading, one line per check (the fix indented below it when the
/// check is not ok), and a summary line.
pub fn to_text(heading: &str, checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = format!("{heading}\n");
    for c in checks {
        out.push_str(&format!("{} {:width$}  {}\n", c.status.mark(), c.name, c.detail));
        if let Some(fix) = c.fix.as_deref().filter(|f| !f.is_empty() && c.status != Status::Ok) {
            out.push_str(&format!("     {:width$}  fix: {fix}\n", ""));
        }
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let verdict = if passed(checks) { "events should flow" } else { "fix the FAIL lines first" };
    out.push_str(&format!(
        "{} ok, {} warnings, {} failed, {} skipped: {verdict}\n",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Skipped)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_one_object_with_every_field() {
        let checks = [Check::ok("route", "via eth0"), Check::fail("interface", "nope0 does not exist", "use eth0")];
        let v: serde_json::Value = serde_json::from_str(&to_json(&checks)).unwrap();
        assert_eq!(v["checks"][0]["status"], "ok");
        assert!(v["checks"][0]["fix"].is_null());
        assert_eq!(v["checks"][1]["status"], "fail");
        assert_eq!(v["checks"][1]["fix"], "use eth0");
        assert!(!passed(&checks));
    }

    #[test]
    fn text_shows_fixes_of_problems_only() {
        let checks = [Check::ok("route", "via eth0"), Check::warn("buffers", "small", "sysctl -w x=1")];
        let text = to_text("doctor", &checks);
        assert!(text.contains("ok   route    via eth0"), "{text}");
        assert!(text.contains("WARN buffers  small\n"), "{text}");
        assert!(text.contains("fix: sysctl -w x=1"), "{text}");
        assert!(text.ends_with("1 ok, 1 warnings, 0 failed, 0 skipped: events should flow\n"), "{text}");
    }
}
