//! Reading a JSON payload field by field, with every failure naming the
//! path of the field (`data.object.amount_paid`, `[2].objectId`).
//!
//! The mappers read payloads through [`Node`] rather than deserializing
//! them into structs: vendors add fields freely, and a mapper needs a
//! handful of them plus an error that says which one is wrong.

use crate::MapError;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

/// A JSON value and the path that led to it.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub(crate) value: &'a Value,
    pub(crate) path: String,
}

impl<'a> Node<'a> {
    /// The payload's root.
    pub(crate) fn root(value: &'a Value) -> Node<'a> {
        Node {
            value,
            path: String::new(),
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn missing(&self, key: &str) -> MapError {
        MapError::Missing {
            path: self.child_path(key),
        }
    }

    fn invalid(path: String, expected: &'static str) -> MapError {
        MapError::Invalid { path, expected }
    }

    /// The field `key`, unless absent or null.
    pub(crate) fn opt(&self, key: &str) -> Option<Node<'a>> {
        match self.value.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(Node {
                value,
                path: self.child_path(key),
            }),
        }
    }

    /// The field `key`, which must be present and not null.
    pub(crate) fn get(&self, key: &str) -> Result<Node<'a>, MapError> {
        self.opt(key).ok_or_else(|| self.missing(key))
    }

    /// This value as a non-empty string.
    pub(crate) fn as_str(&self) -> Result<&'a str, MapError> {
        match self.value.as_str() {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(Self::invalid(self.path.clone(), "a non-empty string")),
        }
    }

    /// This value as an id: a non-empty string, or an integer written out.
    pub(crate) fn as_id(&self) -> Result<String, MapError> {
        match self.value {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
            _ => Err(Self::invalid(
                self.path.clone(),
                "an id (string or integer)",
            )),
        }
    }

    /// This value as a whole number.
    pub(crate) fn as_i64(&self) -> Result<i64, MapError> {
        self.value
            .as_i64()
            .ok_or_else(|| Self::invalid(self.path.clone(), "a whole number"))
    }

    /// This value as a number (a JSON number, or a string holding one, as
    /// some CRMs send amounts).
    pub(crate) fn as_f64(&self) -> Result<f64, MapError> {
        let number = match self.value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match number {
            Some(n) if n.is_finite() => Ok(n),
            _ => Err(Self::invalid(self.path.clone(), "a number")),
        }
    }

    /// This value as a boolean (`true`/`false`, or those words as strings).
    pub(crate) fn as_bool(&self) -> Result<bool, MapError> {
        match self.value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            _ => Err(Self::invalid(self.path.clone(), "true or false")),
        }
    }

    /// This value as a day, `YYYY-MM-DD`.
    pub(crate) fn as_date(&self) -> Result<NaiveDate, MapError> {
        self.value
            .as_str()
            .and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
            .ok_or_else(|| Self::invalid(self.path.clone(), "a date (YYYY-MM-DD)"))
    }

    /// This value as a time given in whole seconds since the epoch.
    pub(crate) fn as_unix_seconds(&self) -> Result<DateTime<Utc>, MapError> {
        self.as_i64()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .ok_or_else(|| Self::invalid(self.path.clone(), "seconds since the epoch"))
    }

    /// This value as a time given in milliseconds since the epoch (a number
    /// or a string of digits).
    pub(crate) fn as_unix_millis(&self) -> Result<DateTime<Utc>, MapError> {
        let millis = match self.value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        millis
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| Self::invalid(self.path.clone(), "milliseconds since the epoch"))
    }

    /// This value as an array of nodes.
    pub(crate) fn items(&self) -> Result<Vec<Node<'a>>, MapError> {
        let array = self
            .value
            .as_array()
            .ok_or_else(|| Self::invalid(self.path.clone(), "an array"))?;
        Ok(array
            .iter()
            .enumerate()
            .map(|(i, value)| Node {
                value,
                path: format!("{}[{i}]", self.path),
            })
            .collect())
    }

    /// The string field `key`.
    pub(crate) fn str(&self, key: &str) -> Result<&'a str, MapError> {
        self.get(key)?.as_str()
    }

    /// The string field `key`, if present.
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, MapError> {
        self.opt(key).map(|n| n.as_str()).transpose()
    }
}
