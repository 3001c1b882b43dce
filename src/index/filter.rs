//! Metadata filters: a small JSON DSL modelled on Qdrant's
//! (<https://qdrant.tech/documentation/concepts/filtering/>), usable from JavaScript and the CLI.
//!
//! A filter is an object with up to three clauses, each a list of conditions:
//! - `must`: every condition holds (and),
//! - `should`: at least one condition holds (or),
//! - `mustNot` (or `must_not`): no condition holds (not).
//!
//! A condition is either a nested filter or a field condition on `key` (a metadata field; a
//! dotted path such as `"exif.iso"` reaches into nested objects when no field has that exact name)
//! with exactly one of:
//! - `"match": {"value": v}`: the field equals `v` (string, number or boolean),
//! - `"match": {"any": [v1, v2]}`: the field equals one of them,
//! - `"range": {"gt": a, "gte": b, "lt": c, "lte": d}`: a number within the bounds given,
//! - `"exists": true` (or `false`): the field is present and not null (or absent or null).
//!
//! When the field holds a list, a `match` or `range` condition holds if any element satisfies it
//! (as in Qdrant). Numbers compare as `f64`, so `1` matches `1.0`.
//!
//! ```
//! use clipsearch::index::Filter;
//! let f = Filter::from_json(r#"{
//!     "must": [{"key": "city", "match": {"value": "London"}}],
//!     "should": [{"key": "year", "range": {"gte": 2020}}, {"key": "tags", "match": {"any": ["cat"]}}],
//!     "mustNot": [{"key": "hidden", "exists": true}]
//! }"#).unwrap();
//! let meta = serde_json::json!({"city": "London", "year": 2021}).as_object().unwrap().clone();
//! assert!(f.matches(&meta));
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Metadata, Result};

/// A metadata filter (see the [module docs](self) for the JSON form).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "serde_json::Value")]
pub struct Filter {
    /// All of these hold.
    pub must: Vec<Condition>,
    /// At least one of these holds (ignored when empty).
    pub should: Vec<Condition>,
    /// None of these holds.
    pub must_not: Vec<Condition>,
}

/// One condition of a [`Filter`].
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A nested filter.
    Filter(Box<Filter>),
    /// The field equals this value (or, for a list field, one element does).
    Equals {
        /// Metadata key or dotted path.
        key: String,
        /// Value to compare with.
        value: Value,
    },
    /// The field equals one of these values.
    Any {
        /// Metadata key or dotted path.
        key: String,
        /// Accepted values.
        values: Vec<Value>,
    },
    /// The field is a number within the given bounds.
    Range {
        /// Metadata key or dotted path.
        key: String,
        /// Exclusive lower bound.
        gt: Option<f64>,
        /// Inclusive lower bound.
        gte: Option<f64>,
        /// Exclusive upper bound.
        lt: Option<f64>,
        /// Inclusive upper bound.
        lte: Option<f64>,
    },
    /// The field is present and not null (`exists: true`), or absent or null (`false`).
    Exists {
        /// Metadata key or dotted path.
        key: String,
        /// Whether the field must exist.
        exists: bool,
    },
}

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidFilter(msg.into())
}

impl Filter {
    /// Parses a filter from its JSON text.
    ///
    /// # Errors
    /// [`Error::InvalidFilter`] naming the first problem (unknown clause, missing `key`, a
    /// condition with no or several of `match`/`range`/`exists`, a non-numeric bound, ...).
    ///
    /// # Example
    /// ```
    /// use clipsearch::index::Filter;
    /// assert!(Filter::from_json(r#"{"must": [{"key": "a", "match": {"value": 1}}]}"#).is_ok());
    /// assert!(Filter::from_json(r#"{"must": [{"key": "a"}]}"#).is_err());
    /// ```
    pub fn from_json(text: &str) -> Result<Self> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        Self::from_value(&v)
    }

    /// Parses a filter from a JSON value.
    ///
    /// # Errors
    /// [`Error::InvalidFilter`], as for [`Filter::from_json`].
    pub fn from_value(v: &Value) -> Result<Self> {
        let obj = v
            .as_object()
            .ok_or_else(|| bad("a filter must be an object with `must`, `should` or `mustNot`"))?;
        let mut f = Filter::default();
        for (k, val) in obj {
            let list = val
                .as_array()
                .ok_or_else(|| bad(format!("`{k}` must be a list of conditions")))?;
            let conds = list
                .iter()
                .map(Condition::from_value)
                .collect::<Result<Vec<_>>>()?;
            match k.as_str() {
                "must" => f.must = conds,
                "should" => f.should = conds,
                "mustNot" | "must_not" => f.must_not = conds,
                other => {
                    return Err(bad(format!(
                        "unknown clause `{other}`: use `must`, `should` or `mustNot`"
                    )))
                }
            }
        }
        Ok(f)
    }

    /// The JSON form of this filter (camelCase clauses).
    pub fn to_value(&self) -> Value {
        let mut o = serde_json::Map::new();
        for (name, conds) in [
            ("must", &self.must),
            ("should", &self.should),
            ("mustNot", &self.must_not),
        ] {
            if !conds.is_empty() {
                o.insert(
                    name.into(),
                    Value::Array(conds.iter().map(Condition::to_value).collect()),
                );
            }
        }
        if o.is_empty() {
            // An empty filter (matches everything) stays recognisable as a filter when nested.
            o.insert("must".into(), Value::Array(Vec::new()));
        }
        Value::Object(o)
    }

    /// Whether an item with this metadata passes the filter.
    ///
    /// # Example
    /// ```
    /// use clipsearch::index::Filter;
    /// let f = Filter::from_json(r#"{"mustNot": [{"key": "x", "exists": true}]}"#).unwrap();
    /// assert!(f.matches(&serde_json::Map::new()));
    /// ```
    pub fn matches(&self, meta: &Metadata) -> bool {
        self.must.iter().all(|c| c.matches(meta))
            && (self.should.is_empty() || self.should.iter().any(|c| c.matches(meta)))
            && !self.must_not.iter().any(|c| c.matches(meta))
    }
}

impl TryFrom<Value> for Filter {
    type Error = Error;
    fn try_from(v: Value) -> Result<Self> {
        Filter::from_value(&v)
    }
}

impl From<Filter> for Value {
    fn from(f: Filter) -> Value {
        f.to_value()
    }
}

fn number(v: &Value, what: &str) -> Result<Option<f64>> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad(format!("`{what}` is not a representable number"))),
        _ => Err(bad(format!("range bound `{what}` must be a number"))),
    }
}

impl Condition {
    /// Parses one condition from a JSON value.
    ///
    /// # Errors
    /// [`Error::InvalidFilter`] if the condition is malformed.
    pub fn from_value(v: &Value) -> Result<Self> {
        let obj = v
            .as_object()
            .ok_or_else(|| bad("a condition must be an object"))?;
        if obj.contains_key("must")
            || obj.contains_key("should")
            || obj.contains_key("mustNot")
            || obj.contains_key("must_not")
        {
            return Ok(Condition::Filter(Box::new(Filter::from_value(v)?)));
        }
        let key = obj
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("condition {v} needs a string `key`")))?
            .to_string();
        for k in obj.keys() {
            if !matches!(k.as_str(), "key" | "match" | "range" | "exists") {
                return Err(bad(format!(
                    "unknown field `{k}` in condition on `{key}`: use `match`, `range` or `exists`"
                )));
            }
        }
        let kinds = ["match", "range", "exists"]
            .iter()
            .filter(|k| obj.contains_key(**k))
            .count();
        if kinds != 1 {
            return Err(bad(format!(
                "condition on `{key}` needs exactly one of `match`, `range`, `exists`"
            )));
        }
        if let Some(m) = obj.get("match") {
            let m = m
                .as_object()
                .ok_or_else(|| bad(format!("`match` on `{key}` must be an object")))?;
            let scalar =
                |x: &Value| matches!(x, Value::String(_) | Value::Number(_) | Value::Bool(_));
            return match (m.get("value"), m.get("any"), m.len()) {
                (Some(value), None, 1) if scalar(value) => Ok(Condition::Equals {
                    key,
                    value: value.clone(),
                }),
                (None, Some(Value::Array(values)), 1) if values.iter().all(scalar) => {
                    Ok(Condition::Any {
                        key,
                        values: values.clone(),
                    })
                }
                _ => Err(bad(format!(
                    "`match` on `{key}` must be {{\"value\": scalar}} or {{\"any\": [scalars]}}"
                ))),
            };
        }
        if let Some(r) = obj.get("range") {
            let r = r
                .as_object()
                .ok_or_else(|| bad(format!("`range` on `{key}` must be an object")))?;
            let (mut gt, mut gte, mut lt, mut lte) = (None, None, None, None);
            for (k, val) in r {
                let slot = match k.as_str() {
                    "gt" => &mut gt,
                    "gte" => &mut gte,
                    "lt" => &mut lt,
                    "lte" => &mut lte,
                    other => {
                        return Err(bad(format!(
                            "unknown range bound `{other}` on `{key}`: use gt, gte, lt, lte"
                        )))
                    }
                };
                *slot = number(val, k)?;
            }
            if [gt, gte, lt, lte].iter().all(Option::is_none) {
                return Err(bad(format!("`range` on `{key}` has no bound")));
            }
            return Ok(Condition::Range {
                key,
                gt,
                gte,
                lt,
                lte,
            });
        }
        match obj.get("exists") {
            Some(Value::Bool(exists)) => Ok(Condition::Exists {
                key,
                exists: *exists,
            }),
            _ => Err(bad(format!("`exists` on `{key}` must be true or false"))),
        }
    }

    /// The JSON form of this condition.
    pub fn to_value(&self) -> Value {
        use serde_json::json;
        match self {
            Condition::Filter(f) => f.to_value(),
            Condition::Equals { key, value } => json!({"key": key, "match": {"value": value}}),
            Condition::Any { key, values } => json!({"key": key, "match": {"any": values}}),
            Condition::Range {
                key,
                gt,
                gte,
                lt,
                lte,
            } => {
                let mut r = serde_json::Map::new();
                for (n, b) in [("gt", gt), ("gte", gte), ("lt", lt), ("lte", lte)] {
                    if let Some(b) = b {
                        r.insert(n.into(), json!(b));
                    }
                }
                json!({"key": key, "range": r})
            }
            Condition::Exists { key, exists } => json!({"key": key, "exists": exists}),
        }
    }

    /// Whether metadata satisfies this condition.
    pub fn matches(&self, meta: &Metadata) -> bool {
        match self {
            Condition::Filter(f) => f.matches(meta),
            Condition::Equals { key, value } => {
                any_element(lookup(meta, key), |x| scalar_eq(x, value))
            }
            Condition::Any { key, values } => any_element(lookup(meta, key), |x| {
                values.iter().any(|v| scalar_eq(x, v))
            }),
            Condition::Range {
                key,
                gt,
                gte,
                lt,
                lte,
            } => any_element(lookup(meta, key), |x| {
                x.as_f64().is_some_and(|n| {
                    gt.is_none_or(|b| n > b)
                        && gte.is_none_or(|b| n >= b)
                        && lt.is_none_or(|b| n < b)
                        && lte.is_none_or(|b| n <= b)
                })
            }),
            Condition::Exists { key, exists } => {
                let present = !matches!(lookup(meta, key), None | Some(Value::Null));
                present == *exists
            }
        }
    }
}

/// Finds `key` in metadata: the exact key first, then a dotted path into nested objects.
fn lookup<'a>(meta: &'a Metadata, key: &str) -> Option<&'a Value> {
    if let Some(v) = meta.get(key) {
        return Some(v);
    }
    let mut parts = key.split('.');
    let mut cur = meta.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

fn any_element(v: Option<&Value>, f: impl Fn(&Value) -> bool) -> bool {
    match v {
        Some(Value::Array(xs)) => xs.iter().any(f),
        Some(x) => f(x),
        None => false,
    }
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}
