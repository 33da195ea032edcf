//! Console commands: one line of text in, one [`Command`] out. Pure, so it is unit-tested
//! and fuzzed (`fuzz/fuzz_targets/console.rs`) apart from any socket.

/// One command a console client typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// A blank line: just show the prompt again.
    Nothing,
    Help(Option<String>),
    Emit {
        event: String,
        args: Vec<String>,
    },
    On(String),
    Off(Option<String>),
    Listeners,
    Stats {
        json: bool,
    },
    Peers,
    Config,
    LogLevel {
        component: Option<String>,
        level: Option<String>,
    },
    Keys(KeysCommand),
    Start,
    Stop,
    Prompt(bool),
    Quit,
}

/// `keys …`: the key (only ever typed in, never shown) stays in `Install`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum KeysCommand {
    List,
    Install { id: u8, key: String },
    Use(u8),
    Remove(u8),
}

impl std::fmt::Debug for KeysCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeysCommand::List => f.write_str("List"),
            KeysCommand::Install { id, .. } => write!(f, "Install {{ id: {id}, key: <redacted> }}"),
            KeysCommand::Use(id) => write!(f, "Use({id})"),
            KeysCommand::Remove(id) => write!(f, "Remove({id})"),
        }
    }
}

/// Each command's usage and one line of help, in the order `help` lists them.
pub(crate) const HELP: &[(&str, &str, &str)] = &[
    ("help", "help [COMMAND]", "list the commands, or show one"),
    (
        "emit",
        "emit EVENT [ARG…]",
        "send an event; each ARG is JSON (Extended JSON too) or text, quoted as in a shell: emit hi \"two words\" 5 '{\"a\": 1}'",
    ),
    ("on", "on PATTERN", "show matching events in this session (sensor.*, **.error, ** for all)"),
    ("off", "off [PATTERN]", "stop showing events for PATTERN, or for every pattern of this session"),
    ("listeners", "listeners", "the instance's listeners: pattern and count"),
    ("stats", "stats [json]", "the instance's counters, as lines or as one JSON object"),
    ("peers", "peers", "every sender heard: id, address, last heard, events, gaps recovered and lost"),
    ("config", "config", "the options in force (never a key)"),
    ("loglevel", "loglevel [COMPONENT] [LEVEL]", "show the log levels; LEVEL sets all; COMPONENT LEVEL sets one"),
    ("keys", "keys list|install ID KEY|use ID|remove ID", "rotate encryption keys (keys are never shown)"),
    ("start", "start", "start the instance (bind, join the group)"),
    ("stop", "stop", "stop the instance; this console stays open"),
    ("prompt", "prompt on|off", "show or hide the prompt (scripts and the console client hide it)"),
    ("quit", "quit", "close this session (exit and Ctrl-D too)"),
];

/// The usage line of a command, for error messages.
fn usage(name: &str) -> &'static str {
    HELP.iter().find(|(n, _, _)| *n == name).map_or("", |(_, u, _)| u)
}

fn bad(name: &str, what: &str) -> String {
    format!("{what}; usage: {}", usage(name))
}

fn key_id(name: &str, text: &str) -> Result<u8, String> {
    text.parse::<u8>().map_err(|_| bad(name, &format!("key id {text:?} is not a number from 0 to 255")))
}

impl Command {
    /// Reads one line: words split as a shell does (quotes and backslashes), the first
    /// word the command. Errors are one line, naming what was wrong and the usage.
    pub fn parse(line: &str) -> Result<Command, String> {
        let words = shlex::split(line).ok_or("unbalanced quotes or a trailing backslash in the line")?;
        let Some((first, rest)) = words.split_first() else {
            return Ok(Command::Nothing);
        };
        let name = first.to_ascii_lowercase();
        let arity = |min: usize, max: usize| {
            if rest.len() < min || rest.len() > max {
                let n = rest.len();
                Err(bad(&name, &format!("{name} takes {} argument{}, not {n}", span(min, max), plural(max))))
            } else {
                Ok(())
            }
        };
        let command = match name.as_str() {
            "help" | "?" => {
                arity(0, 1)?;
                Command::Help(rest.first().cloned())
            }
            "emit" => {
                let (event, args) = rest.split_first().ok_or_else(|| bad("emit", "emit needs an event name"))?;
                Command::Emit { event: event.clone(), args: args.to_vec() }
            }
            "on" => {
                arity(1, 1)?;
                Command::On(rest[0].clone())
            }
            "off" => {
                arity(0, 1)?;
                Command::Off(rest.first().cloned())
            }
            "listeners" => arity(0, 0).map(|()| Command::Listeners)?,
            "stats" => match rest {
                [] => Command::Stats { json: false },
                [j] if j == "json" => Command::Stats { json: true },
                _ => return Err(bad("stats", "stats takes nothing or json")),
            },
            "peers" => arity(0, 0).map(|()| Command::Peers)?,
            "config" => arity(0, 0).map(|()| Command::Config)?,
            "loglevel" => match rest {
                [] => Command::LogLevel { component: None, level: None },
                [level] => Command::LogLevel { component: None, level: Some(level.clone()) },
                [component, level] => {
                    Command::LogLevel { component: Some(component.clone()), level: Some(level.clone()) }
                }
                _ => return Err(bad("loglevel", "loglevel takes at most 2 arguments")),
            },
            "keys" => Command::Keys(match rest {
                [] => KeysCommand::List,
                [l] if l == "list" => KeysCommand::List,
                [i, id, key] if i == "install" => KeysCommand::Install { id: key_id("keys", id)?, key: key.clone() },
                [u, id] if u == "use" => KeysCommand::Use(key_id("keys", id)?),
                [r, id] if r == "remove" => KeysCommand::Remove(key_id("keys", id)?),
                [sub, ..] if ["list", "install", "use", "remove"].contains(&sub.as_str()) => {
                    return Err(bad("keys", &format!("wrong number of arguments for keys {sub}")));
                }
                [sub, ..] => return Err(bad("keys", &format!("unknown keys command {sub:?}"))),
            }),
            "start" => arity(0, 0).map(|()| Command::Start)?,
            "stop" => arity(0, 0).map(|()| Command::Stop)?,
            "prompt" => match rest {
                [on] if on == "on" => Command::Prompt(true),
                [off] if off == "off" => Command::Prompt(false),
                _ => return Err(bad("prompt", "prompt takes on or off")),
            },
            "quit" | "exit" => arity(0, 0).map(|()| Command::Quit)?,
            _ => {
                let shown: String = first.chars().take(40).collect();
                return Err(format!("unknown command {shown:?}; type help for the list"));
            }
        };
        Ok(command)
    }
}

fn span(min: usize, max: usize) -> String {
    if min == max { min.to_string() } else { format!("{min} to {max}") }
}

fn plural(max: usize) -> &'static str {
    if max == 1 { "" } else { "s" }
}

/// The text of `help` or `help COMMAND`.
pub(crate) fn help(topic: Option<&str>) -> Result<String, String> {
    let width = HELP.iter().map(|(_, u, _)| u.chars().count()).max().unwrap_or(0);
    let line = |(_, u, h): &(&str, &str, &str)| format!("  {u:<width$}  {h}\r\n");
    match topic {
        None => Ok(HELP.iter().map(line).collect()),
        Some(t) => HELP
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(t))
            .map(line)
            .ok_or_else(|| format!("no command {t:?}; type help for the list")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands_parse() {
        let p = |s: &str| Command::parse(s).unwrap();
        assert_eq!(p(""), Command::Nothing);
        assert_eq!(p("   "), Command::Nothing);
        assert_eq!(
            p(r#"emit hi "two words" 5 '{"a": 1}'"#),
            Command::Emit { event: "hi".into(), args: vec!["two words".into(), "5".into(), r#"{"a": 1}"#.into()] }
        );
        assert_eq!(p("EMIT x"), Command::Emit { event: "x".into(), args: vec![] });
        assert_eq!(p("on sensor.*"), Command::On("sensor.*".into()));
        assert_eq!(p("off"), Command::Off(None));
        assert_eq!(p("stats json"), Command::Stats { json: true });
        assert_eq!(p("loglevel debug"), Command::LogLevel { component: None, level: Some("debug".into()) });
        assert_eq!(
            p("loglevel repl trace"),
            Command::LogLevel { component: Some("repl".into()), level: Some("trace".into()) }
        );
        assert_eq!(p("keys"), Command::Keys(KeysCommand::List));
        assert_eq!(
            p("keys install 2 'new words'"),
            Command::Keys(KeysCommand::Install { id: 2, key: "new words".into() })
        );
        assert_eq!(p("keys use 2"), Command::Keys(KeysCommand::Use(2)));
        assert_eq!(p("prompt off"), Command::Prompt(false));
        assert_eq!(p("exit"), Command::Quit);
    }

    #[test]
    fn errors_say_what_and_how() {
        let e = |s: &str| Command::parse(s).unwrap_err();
        assert!(e("frobnicate now").contains("unknown command \"frobnicate\"; type help"));
        assert!(e("emit").contains("usage: emit EVENT"));
        assert!(e("on").contains("on takes 1 argument, not 0"));
        assert!(e("emit \"open").contains("unbalanced quotes"));
        assert!(e("keys use 300").contains("key id \"300\""));
        assert!(e("keys install 1").contains("wrong number of arguments for keys install"));
        assert!(e("keys burn").contains("unknown keys command \"burn\""));
        assert!(e("stats yaml").contains("stats takes nothing or json"));
    }

    #[test]
    fn the_key_of_keys_install_never_shows_in_debug() {
        let c = Command::parse("keys install 3 hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn help_has_one_line_per_command() {
        let all = help(None).unwrap();
        assert_eq!(all.lines().count(), HELP.len());
        for (name, _, _) in HELP {
            assert!(help(Some(name)).unwrap().contains(name));
            // every listed command parses in some form
            assert!(!Command::parse(name).unwrap_err_or_ok().contains("unknown command"));
        }
        assert!(help(Some("fly")).unwrap_err().contains("no command \"fly\""));
    }

    trait ErrOrOk {
        fn unwrap_err_or_ok(self) -> String;
    }
    impl ErrOrOk for Result<Command, String> {
        fn unwrap_err_or_ok(self) -> String {
            self.err().unwrap_or_default()
        }
    }

    proptest! {
        #[test]
        fn any_line_parses_or_errors_without_panicking(line in ".{0,200}") {
            if let Err(e) = Command::parse(&line) {
                prop_assert!(!e.contains('\n'));
            }
        }
    }
}
