//! A small JSON Schema evaluator for the subset the OCA schemas use (draft-04 and draft-06:
//! `type`, `properties`, `required`, `additionalProperties`, `enum`, `maxLength`, `format:
//! date-time`, `minimum`, `maximum`, `multipleOf`, `items`, `minItems`, `maxItems`, and `$ref` to
//! `#/definitions/...`).
//!
//! It runs only when the strict types refuse a payload, to name the rule that was broken; each
//! schema is compiled once and kept for the life of the process.
//!
//! Rules are checked in a fixed order, which decides the error code when a payload breaks
//! several: the value's type, then missing required properties, then unknown properties, then
//! each property in schema order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use super::check;
use super::{Rule, Violation};
use crate::Timestamp;

/// A compiled schema: nodes in an arena, `$ref`s resolved to indices.
#[derive(Debug)]
pub(crate) struct Compiled {
    nodes: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Object {
        properties: Vec<(String, usize)>,
        required: Vec<String>,
        closed: bool,
    },
    Array {
        items: Option<usize>,
        min: Option<usize>,
        max: Option<usize>,
    },
    String {
        max_len: Option<usize>,
        enumeration: Option<Vec<String>>,
        format: Option<&'static str>,
    },
    Integer {
        min: Option<f64>,
        max: Option<f64>,
    },
    Number {
        min: Option<f64>,
        max: Option<f64>,
        multiple_of: Option<f64>,
    },
    Boolean,
    Any,
    /// Placeholder while a definition compiles (no OCA schema is recursive).
    Pending,
}

/// The compiled form of `schema`, compiled on first use.
pub(crate) fn compiled(schema: &'static str) -> Arc<Compiled> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<Compiled>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = schema.as_ptr() as usize;
    if let Some(c) = cache.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return c;
    }
    let c = Arc::new(Compiled::new(schema));
    if let Ok(mut m) = cache.lock() {
        m.insert(key, c.clone());
    }
    c
}

impl Compiled {
    /// Compiles a schema document. The vendored schemas are known to be well-formed; anything
    /// this evaluator does not understand accepts every value.
    fn new(schema: &str) -> Compiled {
        let doc: Value = serde_json::from_str(schema.trim_start_matches('\u{feff}'))
            .unwrap_or(Value::Object(Default::default()));
        let mut c = Compiled { nodes: Vec::new() };
        let mut defs = HashMap::new();
        c.compile(&doc, &doc, &mut defs);
        c
    }

    fn compile(&mut self, node: &Value, doc: &Value, defs: &mut HashMap<String, usize>) -> usize {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            if let Some(&i) = defs.get(r) {
                return i;
            }
            let target = r
                .strip_prefix("#/definitions/")
                .and_then(|k| doc.get("definitions").and_then(|d| d.get(k)));
            let idx = self.push(Node::Pending);
            defs.insert(r.to_string(), idx);
            let compiled = match target {
                Some(t) => self.compile(t, doc, defs),
                None => self.push(Node::Any),
            };
            // Point the reference at the compiled definition.
            self.nodes.swap(idx, compiled);
            if compiled != idx {
                // `compiled` now holds the placeholder; nothing refers to it.
                self.nodes[compiled] = Node::Any;
            }
            return idx;
        }
        let num = |k: &str| node.get(k).and_then(Value::as_f64);
        let count = |k: &str| node.get(k).and_then(Value::as_u64).map(|n| n as usize);
        let kind = node.get("type").and_then(Value::as_str);
        let compiled = match kind {
            Some("object") => {
                let mut properties = Vec::new();
                if let Some(props) = node.get("properties").and_then(Value::as_object) {
                    for (name, p) in props {
                        let i = self.compile(p, doc, defs);
                        properties.push((name.clone(), i));
                    }
                }
                Node::Object {
                    properties,
                    required: node
                        .get("required")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                    closed: node.get("additionalProperties") == Some(&Value::Bool(false)),
                }
            }
            Some("array") => Node::Array {
                items: node.get("items").map(|i| self.compile(i, doc, defs)),
                min: count("minItems"),
                max: count("maxItems"),
            },
            Some("string") => Node::String {
                max_len: count("maxLength"),
                enumeration: node.get("enum").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                }),
                format: match node.get("format").and_then(Value::as_str) {
                    Some("date-time") => Some("date-time"),
                    Some("uri") => Some("uri"),
                    _ => None,
                },
            },
            Some("integer") => Node::Integer {
                min: num("minimum"),
                max: num("maximum"),
            },
            Some("number") => Node::Number {
                min: num("minimum"),
                max: num("maximum"),
                multiple_of: num("multipleOf"),
            },
            Some("boolean") => Node::Boolean,
            _ => Node::Any,
        };
        self.push(compiled)
    }

    fn push(&mut self, n: Node) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    /// Checks `value` against the schema's root.
    pub(crate) fn check(&self, value: &Value) -> Result<(), Violation> {
        // The root is compiled last.
        match self.nodes.len() {
            0 => Ok(()),
            n => self.check_node(n - 1, value),
        }
    }

    fn check_node(&self, idx: usize, value: &Value) -> Result<(), Violation> {
        let Some(node) = self.nodes.get(idx) else {
            return Ok(());
        };
        let wrong = |expected: &'static str| Err(Violation::new(Rule::Type { expected }));
        match node {
            Node::Any | Node::Pending => Ok(()),
            Node::Boolean => match value {
                Value::Bool(_) => Ok(()),
                _ => wrong("a boolean"),
            },
            Node::Integer { min, max } => {
                let Some(v) = value.as_i64() else {
                    return wrong("an integer");
                };
                if min.is_some_and(|m| (v as f64) < m) || max.is_some_and(|m| (v as f64) > m) {
                    return Err(Violation::new(Rule::Range(format!(
                        "{v} is outside [{}, {}]",
                        min.map_or("-inf".into(), |m| m.to_string()),
                        max.map_or("inf".into(), |m| m.to_string())
                    ))));
                }
                Ok(())
            }
            Node::Number {
                min,
                max,
                multiple_of,
            } => match value.as_f64() {
                Some(v) if value.is_number() => check::num_range(v, *min, *max, *multiple_of),
                _ => wrong("a number"),
            },
            Node::String {
                max_len,
                enumeration,
                format,
            } => {
                let Some(s) = value.as_str() else {
                    return wrong("a string");
                };
                if let Some(allowed) = enumeration
                    && !allowed.iter().any(|a| a == s)
                {
                    return Err(Violation::new(Rule::Enum(s.to_string())));
                }
                if let Some(max) = max_len {
                    check::max_len(s, *max)?;
                }
                let well_formed = match format {
                    Some("date-time") => Timestamp::parse(s).is_some(),
                    Some("uri") => check::is_uri(s),
                    _ => true,
                };
                if let (false, Some(format)) = (well_formed, format) {
                    return Err(Violation::new(Rule::Format {
                        format,
                        value: s.to_string(),
                    }));
                }
                Ok(())
            }
            Node::Array { items, min, max } => {
                let Some(a) = value.as_array() else {
                    return wrong("an array");
                };
                check::items(a.len(), *min, *max)?;
                if let Some(items) = items {
                    for (i, item) in a.iter().enumerate() {
                        self.check_node(*items, item).map_err(|e| e.at_index(i))?;
                    }
                }
                Ok(())
            }
            Node::Object {
                properties,
                required,
                closed,
            } => {
                let Some(o) = value.as_object() else {
                    return wrong("an object");
                };
                for r in required {
                    if !o.contains_key(r) {
                        return Err(Violation::new(Rule::Required(r.clone())));
                    }
                }
                if *closed
                    && let Some(k) = o.keys().find(|k| !properties.iter().any(|(p, _)| p == *k))
                {
                    return Err(Violation::new(Rule::Unknown(k.clone())));
                }
                for (name, idx) in properties {
                    if let Some(v) = o.get(name) {
                        self.check_node(*idx, v)
                            .map_err(|e| e.at_owned(name.clone()))?;
                    }
                }
                Ok(())
            }
        }
    }
}
