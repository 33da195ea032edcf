//! Events from `--stdin` JSON lines.

use eventcast::bson::Bson;
use serde_json::Value;

/// A JSON value as BSON, reading Extended JSON (`$date`, `$oid`, `$binary`, …).
pub fn from_json(value: Value) -> Result<Bson, String> {
    Bson::try_from(value).map_err(|e| e.to_string())
}

/// One line of `--stdin` input: `{"event": NAME, "args": [...]}` (args optional).
pub fn parse_input_line(line: &str) -> Result<(String, Vec<Bson>), String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    if let Some(n) = eventcast::oversized_json_integer(line) {
        return Err(format!(
            "{n} is beyond 64-bit signed integers; quote it for a string, or write it with a decimal point for a double"
        ));
    }
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
    fn input_lines() {
        let (e, a) = parse_input_line(r#"{"event": "x", "args": [1, "a"]}"#).unwrap();
        assert_eq!((e.as_str(), a.len()), ("x", 2));
        assert!(parse_input_line(r#"{"args": []}"#).is_err());
        assert!(parse_input_line(r#"{"event": "x", "arg": []}"#).unwrap_err().contains("unknown field"));
        assert!(parse_input_line("nope").is_err());
        let big = parse_input_line(r#"{"event": "x", "args": [12345678901234567890]}"#).unwrap_err();
        assert!(big.contains("12345678901234567890 is beyond 64-bit"), "{big}");
    }
}
