//! Arguments from the command line as (Extended) JSON, and events to JSON lines.

use eventcast::Event;
use eventcast::bson::Bson;
use serde_json::{Value, json};

/// One command-line argument: JSON (Extended JSON allowed, such as `{"$date": "…"}`), or a
/// plain string when it is not JSON at all.
pub fn parse_arg(text: &str) -> Result<Bson, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => {
            from_json(value).map_err(|e| format!("argument {text:?} is JSON but not valid Extended JSON: {e}"))
        }
        Err(_) => Ok(Bson::String(text.to_owned())),
    }
}

/// A JSON value as BSON, reading Extended JSON (`$date`, `$oid`, `$binary`, …).
pub fn from_json(value: Value) -> Result<Bson, String> {
    Bson::try_from(value).map_err(|e| e.to_string())
}

/// One line of `{"event": …, "args": […], "sender": …, "from": …}`; arguments as relaxed
/// Extended JSON.
pub fn event_line(ev: &Event) -> Value {
    let args = match ev.args_bson() {
        Ok(args) => Bson::Array(args).into_relaxed_extjson(),
        Err(e) => json!({ "error": e.to_string() }),
    };
    json!({
        "event": ev.name(),
        "args": args,
        "sender": ev.sender().to_string(),
        "from": ev.from().map(|a| a.to_string()),
    })
}

/// One line of `--stdin` input: `{"event": NAME, "args": [...]}` (args optional).
pub fn parse_input_line(line: &str) -> Result<(String, Vec<Bson>), String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(mut object) = value else {
        return Err("expected an object like {\"event\": \"name\", \"args\": [1, \"two\"]}".into());
    };
    let Some(Value::String(event)) = object.remove("event") else {
        return Err("\"event\" must be a string".into());
    };
    let args = match object.remove("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.into_iter().map(from_json).collect::<Result<_, _>>()?,
        Some(_) => return Err("\"args\" must be an array".into()),
    };
    if let Some(extra) = object.keys().next() {
        return Err(format!("unknown field {extra:?}; allowed: event, args"));
    }
    Ok((event, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_are_json_extjson_or_strings() {
        assert_eq!(parse_arg("5").unwrap(), Bson::Int32(5));
        assert_eq!(parse_arg("\"5\"").unwrap(), Bson::String("5".into()));
        assert_eq!(parse_arg("hello world").unwrap(), Bson::String("hello world".into()));
        assert!(matches!(parse_arg(r#"{"$date": "2024-01-02T03:04:05Z"}"#).unwrap(), Bson::DateTime(_)));
        assert!(parse_arg(r#"{"$oid": 5}"#).unwrap_err().contains("Extended JSON"));
    }

    #[test]
    fn input_lines() {
        let (e, a) = parse_input_line(r#"{"event": "x", "args": [1, "a"]}"#).unwrap();
        assert_eq!((e.as_str(), a.len()), ("x", 2));
        assert!(parse_input_line(r#"{"args": []}"#).is_err());
        assert!(parse_input_line(r#"{"event": "x", "arg": []}"#).unwrap_err().contains("unknown field"));
        assert!(parse_input_line("nope").is_err());
    }
}
