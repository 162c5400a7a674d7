//! Schema validation of OCPP payloads.
//!
//! Decoding ([`decode`]) takes a fast path and a slow one:
//!
//! 1. serde parses the payload straight into the generated type. The types are strict (unknown
//!    properties, `null`, wrong types and unknown enumeration values all fail), and then
//!    [`Validate::validate`] checks what serde cannot: string lengths, numeric bounds and array
//!    sizes. A valid payload never leaves this path.
//! 2. When serde refuses a payload, [`schema`] walks it against the OCA schema itself to say
//!    precisely which rule it broke and where, so the caller can answer with the error code the
//!    specification names (see [`crate::rpc::ErrorCode::for_violation`]).
//!
//! Both paths implement the same rules; a property test keeps them in step, and another compares
//! the slow path with an independent JSON Schema validator.

mod schema;

use std::borrow::Cow;
use std::fmt;

use serde::de::DeserializeOwned;

/// Checks the constraints of a decoded or to-be-encoded message that its type cannot express.
pub trait Validate {
    /// `Ok` when every `maxLength`, `minimum`/`maximum`, `multipleOf` and `minItems`/`maxItems`
    /// rule of the schema holds, else the first rule broken.
    fn validate(&self) -> Result<(), Violation>;
}

/// Which schema rule a payload broke.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// The payload is not JSON.
    Syntax(String),
    /// A value has the wrong JSON type.
    Type {
        /// The type the schema wants.
        expected: &'static str,
    },
    /// A required property is missing.
    Required(String),
    /// A property the schema does not allow.
    Unknown(String),
    /// A string outside its enumeration.
    Enum(String),
    /// A string longer than its `maxLength` (in characters).
    MaxLength {
        /// The limit.
        max: usize,
        /// The length found.
        actual: usize,
    },
    /// A number outside `minimum`/`maximum` or not a `multipleOf`.
    Range(String),
    /// An array with fewer or more items than allowed.
    Items {
        /// The number of items found.
        actual: usize,
    },
    /// A string that must be a `date-time` or a `uri` and is not.
    Format {
        /// The format (`date-time`, `uri`).
        format: &'static str,
        /// The string found.
        value: String,
    },
    /// Refused by the strict types although the schema has no rule against it (for example a
    /// duplicated property name).
    Other(String),
}

/// A broken schema rule and where it was broken.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// Path segments from the innermost outwards (errors are built while unwinding).
    path: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(Cow<'static, str>),
    Index(usize),
}

impl Violation {
    /// A violation at the root of the payload.
    pub fn new(rule: Rule) -> Violation {
        Violation {
            rule,
            path: Vec::new(),
        }
    }

    /// Places the violation inside property `key`.
    pub fn at(mut self, key: &'static str) -> Violation {
        self.path.push(Segment::Key(Cow::Borrowed(key)));
        self
    }

    pub(crate) fn at_owned(mut self, key: String) -> Violation {
        self.path.push(Segment::Key(Cow::Owned(key)));
        self
    }

    /// Places the violation inside array item `i`.
    pub fn at_index(mut self, i: usize) -> Violation {
        self.path.push(Segment::Index(i));
        self
    }

    /// Where, as a JSON pointer (`/meterValue/0/sampledValue/1/value`; empty for the root).
    pub fn pointer(&self) -> String {
        let mut s = String::new();
        for seg in self.path.iter().rev() {
            s.push('/');
            match seg {
                Segment::Key(k) => s.push_str(k),
                Segment::Index(i) => s.push_str(&i.to_string()),
            }
        }
        s
    }

    /// The errorDetails of the CALLERROR that reports it: an object naming where the fault
    /// is, `{"path": "/meterValue/0"}`.
    pub fn error_details(&self) -> String {
        let mut details = serde_json::Map::new();
        details.insert("path".into(), serde_json::Value::String(self.pointer()));
        serde_json::Value::Object(details).to_string()
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.pointer();
        let at = if at.is_empty() { "/".to_string() } else { at };
        match &self.rule {
            Rule::Syntax(e) => write!(f, "payload is not valid JSON: {e}"),
            Rule::Type { expected } => write!(f, "{at}: expected {expected}"),
            Rule::Required(p) => write!(f, "{at}: required property `{p}` is missing"),
            Rule::Unknown(p) => write!(f, "{at}: property `{p}` is not allowed"),
            Rule::Enum(v) => write!(f, "{at}: `{v}` is not one of the allowed values"),
            Rule::MaxLength { max, actual } => {
                write!(f, "{at}: {actual} characters, at most {max} allowed")
            }
            Rule::Range(e) => write!(f, "{at}: {e}"),
            Rule::Items { actual } => write!(f, "{at}: {actual} items is out of bounds"),
            Rule::Format { format, value } => write!(f, "{at}: `{value}` is not a {format}"),
            Rule::Other(e) => write!(f, "{at}: {e}"),
        }
    }
}

impl std::error::Error for Violation {}

/// Parses `payload` into `T` and checks it completely against `schema` (the OCA schema of `T`,
/// verbatim); see the module documentation.
pub fn decode<T: DeserializeOwned + Validate>(
    payload: &str,
    schema: &'static str,
) -> Result<T, Violation> {
    match serde_json::from_str::<T>(payload) {
        Ok(value) => {
            value.validate()?;
            Ok(value)
        }
        Err(e) => Err(explain(payload, schema, &e)),
    }
}

/// Checks a JSON value against an OCA schema (the slow path, also used by tests).
pub fn check_value(value: &serde_json::Value, schema: &'static str) -> Result<(), Violation> {
    schema::compiled(schema).check(value)
}

fn explain(payload: &str, schema: &'static str, serde_error: &serde_json::Error) -> Violation {
    let value: serde_json::Value = match serde_json::from_str(payload) {
        Ok(v) => v,
        Err(e) => return Violation::new(Rule::Syntax(e.to_string())),
    };
    match check_value(&value, schema) {
        Err(v) => v,
        Ok(()) => Violation::new(Rule::Other(serde_error.to_string())),
    }
}

/// The checks the generated [`Validate`] implementations call.
pub mod check {
    use super::{Rule, Violation};

    /// `maxLength`, counted in characters as JSON Schema does.
    #[inline]
    pub fn max_len(s: &str, max: usize) -> Result<(), Violation> {
        if s.len() <= max {
            return Ok(());
        }
        let actual = s.chars().count();
        if actual <= max {
            Ok(())
        } else {
            Err(Violation::new(Rule::MaxLength { max, actual }))
        }
    }

    /// `format: uri` (an absolute URI: a scheme, a colon, and no white space), and `maxLength`.
    pub fn uri(s: &str, max: Option<usize>) -> Result<(), Violation> {
        if let Some(max) = max {
            max_len(s, max)?;
        }
        if is_uri(s) {
            Ok(())
        } else {
            Err(Violation::new(Rule::Format {
                format: "uri",
                value: s.to_string(),
            }))
        }
    }

    /// Whether `s` is an absolute URI as RFC 3986 §3 starts one: `scheme ":" ...`, with no
    /// white space or control characters anywhere.
    pub fn is_uri(s: &str) -> bool {
        let Some((scheme, _)) = s.split_once(':') else {
            return false;
        };
        let mut cs = scheme.chars();
        cs.next().is_some_and(|c| c.is_ascii_alphabetic())
            && cs.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
    }

    /// `minimum` and `maximum` of an integer.
    #[inline]
    pub fn int_range(v: i64, min: Option<i64>, max: Option<i64>) -> Result<(), Violation> {
        if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
            return Err(Violation::new(Rule::Range(format!(
                "{v} is outside [{}, {}]",
                min.map_or("-inf".into(), |m| m.to_string()),
                max.map_or("inf".into(), |m| m.to_string())
            ))));
        }
        Ok(())
    }

    /// `minimum`, `maximum` and `multipleOf` of a number.
    #[inline]
    pub fn num_range(
        v: f64,
        min: Option<f64>,
        max: Option<f64>,
        multiple_of: Option<f64>,
    ) -> Result<(), Violation> {
        if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
            return Err(Violation::new(Rule::Range(format!(
                "{v} is outside [{}, {}]",
                min.map_or("-inf".into(), |m| m.to_string()),
                max.map_or("inf".into(), |m| m.to_string())
            ))));
        }
        if let Some(m) = multiple_of
            && !is_multiple(v, m)
        {
            return Err(Violation::new(Rule::Range(format!(
                "{v} is not a multiple of {m}"
            ))));
        }
        Ok(())
    }

    /// Whether `v` is a multiple of `m`, allowing for binary floating point (`0.3` is a multiple
    /// of `0.1`).
    pub fn is_multiple(v: f64, m: f64) -> bool {
        if m <= 0.0 {
            return true;
        }
        let q = v / m;
        (q - q.round()).abs() <= 1e-9 * q.abs().max(1.0)
    }

    /// `minItems` and `maxItems`.
    #[inline]
    pub fn items(len: usize, min: Option<usize>, max: Option<usize>) -> Result<(), Violation> {
        if min.is_some_and(|m| len < m) || max.is_some_and(|m| len > m) {
            return Err(Violation::new(Rule::Items { actual: len }));
        }
        Ok(())
    }

    /// `minItems`, `maxItems`, and a check of every item.
    #[inline]
    pub fn array<T>(
        v: &[T],
        min: Option<usize>,
        max: Option<usize>,
        f: impl Fn(&T) -> Result<(), Violation>,
    ) -> Result<(), Violation> {
        items(v.len(), min, max)?;
        for (i, item) in v.iter().enumerate() {
            f(item).map_err(|e| e.at_index(i))?;
        }
        Ok(())
    }
}
