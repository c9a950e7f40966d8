//! A strict reader over `serde_json::Value` that remembers where it is, so every error names the
//! JSON path and what was expected (`rollback.retentionDays: expected ..., got -3`). serde's own
//! derive errors carry no path and speak in Rust types, which a NixOS user cannot act on.

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

pub type Result<T> = std::result::Result<T, ConfigError>;

/// Parses the config text. JSON allows an object to name a key twice and serde_json's `Value`
/// keeps the last one silently (`"maxTries": 1, "maxTries": 100` reads as 100): a repeated key
/// is refused instead, naming its path, as an unknown one is.
pub fn parse_json(text: &str) -> Result<Value> {
    let repeated = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Strict { path: String::new(), repeated: &repeated }.deserialize(&mut de);
    match parsed.and_then(|value| de.end().map(|()| value)) {
        Ok(value) => Ok(value),
        Err(e) => match repeated.into_inner() {
            Some(path) => Err(error(&path, "given twice; a field may appear only once")),
            None => Err(error("", format!("not valid JSON at line {} column {}: {e}", e.line(), e.column()))),
        },
    }
}

/// Builds a `Value` like serde_json's own, but fails on a repeated key, leaving its JSON path
/// in `repeated` (serde's error type cannot carry it).
struct Strict<'r> {
    path: String,
    repeated: &'r RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> std::result::Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> std::result::Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> std::result::Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> std::result::Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = format!("{}[{}]", self.path, items.len());
            match seq.next_element_seed(Strict { path, repeated: self.repeated })? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> std::result::Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let path = child_path(&self.path, &key);
            if map.contains_key(&key) {
                *self.repeated.borrow_mut() = Some(path);
                return Err(serde::de::Error::custom("a key given twice"));
            }
            let value = access.next_value_seed(Strict { path, repeated: self.repeated })?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// The JSON path of `key` inside the object at `path`: `a.b`, or `a."/var/lib"` for a key that
/// is not a plain word.
fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("{path}.{key}")
    } else {
        format!("{path}.{key:?}")
    }
}

/// One value and the path that leads to it.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub value: &'a Value,
    pub path: &'a str,
}

pub fn error(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { path: path.to_string(), message: message.into() }
}

/// Short rendering of a value for "got ..." (long strings and containers are cut).
pub fn show(value: &Value) -> String {
    let text = match value {
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}

impl<'a> At<'a> {
    pub fn expected<T>(&self, what: &str) -> Result<T> {
        Err(error(self.path, format!("expected {what}, got {}", show(self.value))))
    }

    pub fn string(&self) -> Result<String> {
        match self.value {
            Value::String(s) => Ok(s.clone()),
            _ => self.expected("a string"),
        }
    }

    pub fn nonempty_string(&self) -> Result<String> {
        match self.value {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            _ => self.expected("a non-empty string"),
        }
    }

    pub fn bool(&self) -> Result<bool> {
        match self.value {
            Value::Bool(b) => Ok(*b),
            _ => self.expected("true or false"),
        }
    }

    /// A whole number in `min..=max`; `what` says what it counts, for the message.
    pub fn uint(&self, what: &str, min: u64, max: u64) -> Result<u64> {
        // A bound that only guards the integer type is not worth telling the user about.
        let expectation = if max >= u64::from(u32::MAX) {
            format!("{what} >= {min}")
        } else {
            format!("{what} from {min} to {max}")
        };
        match self.value.as_u64() {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            _ => self.expected(&expectation),
        }
    }

    /// An absolute path with no `..` component: configs name devices and key files, and a
    /// relative path would depend on the initrd's working directory.
    pub fn abs_path(&self) -> Result<PathBuf> {
        match self.value {
            Value::String(s) if s.starts_with('/') && !s.split('/').any(|c| c == "..") => {
                Ok(PathBuf::from(s))
            }
            _ => self.expected("an absolute path (starting with /, without ..)"),
        }
    }

    pub fn list<T>(&self, mut item: impl FnMut(At<'_>) -> Result<T>) -> Result<Vec<T>> {
        let Value::Array(items) = self.value else {
            return self.expected("a list");
        };
        items
            .iter()
            .enumerate()
            .map(|(i, value)| item(At { value, path: &format!("{}[{i}]", self.path) }))
            .collect()
    }

    /// An object with user-chosen keys (paths, dataset names).
    pub fn map(&self) -> Result<Object<'a>> {
        match self.value {
            Value::Object(map) => Ok(Object { map, path: self.path.to_string() }),
            _ => self.expected("an object"),
        }
    }

    /// An object whose fields must all be in `known`: the first other one is an error listing
    /// what is accepted there.
    pub fn object_of(&self, known: &[&str]) -> Result<Object<'a>> {
        let obj = self.map()?;
        match obj.map.keys().find(|k| !known.contains(&k.as_str())) {
            None => Ok(obj),
            Some(k) => Err(error(
                &obj.child_path(k),
                format!("unknown field; expected one of: {}", known.join(", ")),
            )),
        }
    }
}

/// The fields of one JSON object; `finish` rejects every field that was not asked for.
pub struct Object<'a> {
    map: &'a Map<String, Value>,
    pub path: String,
}

impl<'a> Object<'a> {
    pub fn child_path(&self, key: &str) -> String {
        child_path(&self.path, key)
    }

    /// Calls `read` on the field when present and not null.
    pub fn optional<T>(&self, key: &str, read: impl FnOnce(At<'_>) -> Result<T>) -> Result<Option<T>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => read(At { value, path: &self.child_path(key) }).map(Some),
        }
    }

    pub fn required<T>(&self, key: &str, read: impl FnOnce(At<'_>) -> Result<T>) -> Result<T> {
        self.optional(key, read)?.ok_or_else(|| error(&self.child_path(key), "required field is missing"))
    }

    /// Reads every entry of an object keyed by user data (paths, dataset names).
    pub fn each<T>(&self, mut read: impl FnMut(&str, At<'_>) -> Result<T>) -> Result<Vec<T>> {
        self.map.iter().map(|(key, value)| read(key, At { value, path: &self.child_path(key) })).collect()
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }
}
