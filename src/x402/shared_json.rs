//! A JSON document kept with its text, shared by reference count: a payment's payload and its
//! requirement travel from the header to the settler and the ledger without being copied or
//! serialized again on the request path.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A parsed JSON value and the text it was parsed from (or serialized to, once).
#[derive(Clone)]
pub struct SharedJson {
    value: Arc<serde_json::Value>,
    text: Arc<str>,
}

impl SharedJson {
    /// A value parsed from `text`, which is kept as it came.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        Ok(Self {
            value: Arc::new(serde_json::from_str(text)?),
            text: text.into(),
        })
    }

    /// A value built here, serialized once.
    pub fn from_value(value: serde_json::Value) -> Self {
        Self {
            text: value.to_string().into(),
            value: Arc::new(value),
        }
    }

    /// The text (what the ledger stores).
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl Default for SharedJson {
    fn default() -> Self {
        Self::from_value(serde_json::Value::Null)
    }
}

impl Deref for SharedJson {
    type Target = serde_json::Value;

    fn deref(&self) -> &serde_json::Value {
        &self.value
    }
}

impl serde::Serialize for SharedJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl fmt::Debug for SharedJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_text_is_kept_as_sent_and_reads_as_its_value() {
        let text = r#"{ "b": 1,  "a": [true] }"#;
        let json = SharedJson::parse(text).unwrap();
        assert_eq!(json.text(), text);
        assert_eq!(*json, serde_json::json!({"a": [true], "b": 1}));
        assert!(SharedJson::parse("{").is_err());
    }

    #[test]
    fn a_built_value_is_serialized_once_and_clones_share_it() {
        let json = SharedJson::from_value(serde_json::json!({"x": "y"}));
        assert_eq!(json.text(), r#"{"x":"y"}"#);
        let copy = json.clone();
        assert!(Arc::ptr_eq(&json.value, &copy.value) && Arc::ptr_eq(&json.text, &copy.text));
    }
}
