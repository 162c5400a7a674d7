//! Every message of every version against its OCA schema.
//!
//! Random payloads are generated from the schemas themselves. A valid one must decode into the
//! generated type, be accepted by an independent JSON Schema validator, and encode back to the
//! same JSON (so `customData` and vendor properties survive). A payload broken in one way must be
//! refused by the type, by the independent validator, and be reported with the rule it broke.

use std::collections::BTreeMap;

use arus_ocpp::validate::{Rule, Violation, check_value};
use arus_ocpp::{v16, v21, v201};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

/// Decodes a payload with the generated types and encodes it back to JSON.
type Decode = Box<dyn Fn(&str) -> Result<Value, Violation>>;

/// One message schema and how to decode it with the generated types.
struct Case {
    name: String,
    schema: &'static str,
    decode: Decode,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    macro_rules! version {
        ($m:ident) => {
            for &a in $m::Action::ALL {
                out.push(Case {
                    name: format!("{} {}Request", stringify!($m), a),
                    schema: a.request_schema(),
                    decode: Box::new(move |p| {
                        $m::Request::decode(a, p).map(|r| serde_json::to_value(r).expect("encodes"))
                    }),
                });
                if let Some(schema) = a.response_schema() {
                    out.push(Case {
                        name: format!("{} {}Response", stringify!($m), a),
                        schema,
                        decode: Box::new(move |p| {
                            $m::Response::decode(a, p).map(|r| {
                                serde_json::to_value(r.expect("has a response")).expect("encodes")
                            })
                        }),
                    });
                }
            }
        };
    }
    version!(v16);
    version!(v201);
    version!(v21);
    out
}

/// Generates values valid against a schema node.
fn arb(node: &Value, root: &Value, depth: u32) -> BoxedStrategy<Value> {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let key = r.trim_start_matches("#/definitions/");
        let target = root["definitions"][key].clone();
        let root = root.clone();
        return Just(())
            .prop_flat_map(move |_| arb(&target, &root, depth))
            .boxed();
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        return proptest::sample::select(values.clone()).boxed();
    }
    match node.get("type").and_then(Value::as_str) {
        Some("object") => {
            let props = node["properties"].as_object().cloned().unwrap_or_default();
            let required = required(node);
            let open = node.get("additionalProperties") != Some(&Value::Bool(false));
            let mut fields: Vec<BoxedStrategy<Option<(String, Value)>>> = Vec::new();
            for (name, p) in props {
                let s = arb(&p, root, depth + 1);
                let n = name.clone();
                if required.contains(&name) {
                    fields.push(s.prop_map(move |v| Some((n.clone(), v))).boxed());
                } else if depth < 4 {
                    fields.push(
                        proptest::option::weighted(0.6, s)
                            .prop_map(move |v| v.map(|v| (n.clone(), v)))
                            .boxed(),
                    );
                }
            }
            fields
                .prop_map(move |fs| {
                    let mut m = Map::new();
                    for (k, v) in fs.into_iter().flatten() {
                        m.insert(k, v);
                    }
                    if open {
                        // A vendor's own property, which must be kept.
                        m.insert("acmeFlag".into(), json!({"nested": [1, "two"]}));
                    }
                    Value::Object(m)
                })
                .boxed()
        }
        Some("array") => {
            let min = node.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let max = node
                .get("maxItems")
                .and_then(Value::as_u64)
                .map_or(min + 2, |m| (m as usize).min(min + 2));
            proptest::collection::vec(arb(&node["items"], root, depth + 1), min..=max)
                .prop_map(Value::Array)
                .boxed()
        }
        Some("string") if node.get("format").and_then(Value::as_str) == Some("date-time") => (0i64
            ..4_102_444_800_000)
            .prop_map(|ms| {
                let t = chrono::DateTime::from_timestamp_millis(ms).expect("in range");
                Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            })
            .boxed(),
        Some("string") if node.get("format").and_then(Value::as_str) == Some("uri") => {
            proptest::sample::select(vec![
                "ftp://diag.example.com/upload",
                "https://x.test/fw.bin?v=2",
            ])
            .prop_map(|s| Value::String(s.into()))
            .boxed()
        }
        Some("string") => {
            let max = node.get("maxLength").and_then(Value::as_u64).unwrap_or(40) as usize;
            // Multi-byte characters check that lengths count characters, not bytes.
            proptest::collection::vec(
                proptest::sample::select(vec!['a', 'Z', '7', 'é', '中', ' ', '"']),
                0..=max.min(24),
            )
            .prop_map(|cs| Value::String(cs.into_iter().collect()))
            .boxed()
        }
        Some("integer") => {
            let min = node
                .get("minimum")
                .and_then(Value::as_f64)
                .unwrap_or(-1000.0) as i64;
            let max = node
                .get("maximum")
                .and_then(Value::as_f64)
                .map_or(min + 100_000, |m| m as i64);
            (min..=max).prop_map(|i| json!(i)).boxed()
        }
        Some("number") => {
            let min = node
                .get("minimum")
                .and_then(Value::as_f64)
                .unwrap_or(-1000.0);
            let max = node
                .get("maximum")
                .and_then(Value::as_f64)
                .unwrap_or(min + 1e6);
            match node.get("multipleOf").and_then(Value::as_f64) {
                Some(m) => {
                    // Round to the multiple's decimals, as a sender of decimal numbers would.
                    let decimals = m.to_string().split('.').nth(1).map_or(0, str::len);
                    (0i64..1000)
                        .prop_map(move |k| {
                            let v = ((min / m).ceil() + k as f64) * m;
                            json!(format!("{v:.decimals$}").parse::<f64>().unwrap_or(v))
                        })
                        .boxed()
                }
                None => (min..=max).prop_map(|f| json!(f)).boxed(),
            }
        }
        Some("boolean") => any::<bool>().prop_map(Value::Bool).boxed(),
        _ => prop_oneof![
            Just(json!("text")),
            Just(json!({"k": [1, 2.5, null]})),
            Just(json!(42))
        ]
        .boxed(),
    }
}

fn schema_doc(schema: &str) -> Value {
    serde_json::from_str(schema.trim_start_matches('\u{feff}')).expect("schema is JSON")
}

/// An independent validator for the same schema (the `jsonschema` crate).
fn independent(doc: &Value) -> jsonschema::Validator {
    jsonschema::validator_for(doc).expect("schema compiles")
}

#[test]
fn valid_payloads_decode_and_round_trip() {
    for case in cases() {
        let doc = schema_doc(case.schema);
        let oracle = independent(&doc);
        let mut runner = TestRunner::new(Config {
            cases: 24,
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = arb(&doc, &doc, 0);
        runner
            .run(&strategy, |value| {
                let text = value.to_string();
                prop_assert!(
                    oracle.is_valid(&value),
                    "{}: generator made {text}",
                    case.name
                );
                match (case.decode)(&text) {
                    Ok(back) => prop_assert_eq!(&back, &value, "{} round trip", case.name),
                    Err(v) => prop_assert!(false, "{}: refused {text}: {v}", case.name),
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The ways a payload is broken, and the rule each must be reported as.
#[derive(Debug, Clone, Copy)]
enum Break {
    DropRequired,
    AddUnknown,
    WrongType,
    BadEnum,
    TooLong,
}

/// Breaks `value` once, somewhere the schema allows; returns `None` if this kind of break has no
/// place in this payload.
fn break_once(
    value: &mut Value,
    node: &Value,
    root: &Value,
    kind: Break,
    pick: &mut impl FnMut(usize) -> usize,
) -> Option<Rule> {
    let node = match node.get("$ref").and_then(Value::as_str) {
        Some(r) => &root["definitions"][r.trim_start_matches("#/definitions/")],
        None => node,
    };
    // Places one level down, tried in an order the pick chooses.
    let mut here: Option<Rule> = None;
    match (node.get("type").and_then(Value::as_str), &mut *value) {
        (Some("object"), Value::Object(m)) => {
            let required = required(node);
            let closed = node.get("additionalProperties") == Some(&Value::Bool(false));
            let keys: Vec<String> = m.keys().cloned().collect();
            if !keys.is_empty() {
                let start = pick(keys.len());
                for i in 0..keys.len() {
                    let k = &keys[(start + i) % keys.len()];
                    let child = &node["properties"][k];
                    if child.is_null() {
                        continue;
                    }
                    if let Some(v) = m.get_mut(k)
                        && let Some(rule) = break_once(v, child, root, kind, pick)
                    {
                        return Some(rule);
                    }
                }
            }
            here = match kind {
                Break::DropRequired if !required.is_empty() => {
                    let r = required[pick(required.len())].clone();
                    m.remove(&r);
                    Some(Rule::Required(r))
                }
                Break::AddUnknown if closed => {
                    m.insert("notInTheSchema".into(), json!(1));
                    Some(Rule::Unknown("notInTheSchema".into()))
                }
                _ => None,
            };
        }
        (Some("array"), Value::Array(a)) if !a.is_empty() => {
            let i = pick(a.len());
            return break_once(&mut a[i], &node["items"], root, kind, pick);
        }
        (Some("string"), v) => {
            here = match kind {
                Break::WrongType => {
                    *v = json!(12);
                    Some(Rule::Type {
                        expected: "a string",
                    })
                }
                Break::BadEnum if node.get("enum").is_some() => {
                    *v = json!("NotAValue");
                    Some(Rule::Enum("NotAValue".into()))
                }
                Break::TooLong => node.get("maxLength").and_then(Value::as_u64).map(|max| {
                    *v = Value::String("é".repeat(max as usize + 1));
                    Rule::MaxLength {
                        max: max as usize,
                        actual: max as usize + 1,
                    }
                }),
                _ => None,
            };
        }
        (Some("integer"), v) if matches!(kind, Break::WrongType) => {
            *v = json!("12");
            here = Some(Rule::Type {
                expected: "an integer",
            });
        }
        _ => {}
    }
    here
}

#[test]
fn broken_payloads_are_refused_with_the_rule_they_broke() {
    let checked = std::cell::RefCell::new(BTreeMap::new());
    for case in cases() {
        let doc = schema_doc(case.schema);
        let oracle = independent(&doc);
        let mut runner = TestRunner::new(Config {
            cases: 16,
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (
            arb(&doc, &doc, 0),
            proptest::sample::select(vec![
                Break::DropRequired,
                Break::AddUnknown,
                Break::WrongType,
                Break::BadEnum,
                Break::TooLong,
            ]),
            proptest::collection::vec(any::<usize>(), 16),
        );
        runner
            .run(&strategy, |(mut value, kind, picks)| {
                let mut picks = picks.into_iter().cycle();
                let mut pick = |n: usize| picks.next().unwrap_or(0) % n;
                let Some(expected) = break_once(&mut value, &doc, &doc, kind, &mut pick) else {
                    return Ok(());
                };
                *checked.borrow_mut().entry(format!("{kind:?}")).or_insert(0) += 1;
                let text = value.to_string();
                prop_assert!(
                    !oracle.is_valid(&value),
                    "{}: oracle took {text}",
                    case.name
                );
                let violation = match (case.decode)(&text) {
                    Ok(_) => {
                        return Err(TestCaseError::fail(format!("{}: took {text}", case.name)));
                    }
                    Err(v) => v,
                };
                prop_assert_eq!(&violation.rule, &expected, "{}: {}", case.name, text);
                // The slow path agrees with the fast one.
                prop_assert_eq!(check_value(&value, case.schema).err(), Some(violation));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // Every kind of break was exercised many times.
    let checked = checked.into_inner();
    for kind in [
        "DropRequired",
        "AddUnknown",
        "WrongType",
        "BadEnum",
        "TooLong",
    ] {
        assert!(
            checked.get(kind).copied().unwrap_or(0) > 100,
            "{kind}: {checked:?}"
        );
    }
}

#[test]
fn null_is_not_an_absent_property() {
    let e = v16::Request::decode(
        v16::Action::StopTransaction,
        r#"{"transactionId":1,"meterStop":10,"timestamp":"2024-01-01T00:00:00Z","idTag":null}"#,
    )
    .expect_err("null is refused");
    assert_eq!(
        e.rule,
        Rule::Type {
            expected: "a string"
        }
    );
    assert_eq!(e.pointer(), "/idTag");
}

#[test]
fn custom_data_keeps_vendor_properties() {
    let text = r#"{"customData":{"vendorId":"com.acme","battery":{"soh":97}},"evseId":1,"meterValue":[{"timestamp":"2024-01-01T00:00:00.000Z","sampledValue":[{"value":1.5,"customData":{"vendorId":"com.acme","raw":"x"}}]}]}"#;
    let r = v201::Request::decode(v201::Action::MeterValues, text).expect("valid");
    let back = serde_json::to_value(&r).expect("encodes");
    assert_eq!(back, serde_json::from_str::<Value>(text).expect("json"));
}

#[test]
fn lengths_count_characters() {
    let ok = format!(r#"{{"idTag":"{}"}}"#, "é".repeat(20));
    assert!(v16::Request::decode(v16::Action::Authorize, &ok).is_ok());
    let long = format!(r#"{{"idTag":"{}"}}"#, "é".repeat(21));
    let e = v16::Request::decode(v16::Action::Authorize, &long).expect_err("too long");
    assert_eq!(
        e.rule,
        Rule::MaxLength {
            max: 20,
            actual: 21
        }
    );
}

/// serde_json's `arbitrary_precision` must stay off (it changes how every number is held and
/// written): with it, `1.50` would be written back as `1.50`.
#[test]
fn numbers_are_plain_f64() {
    let v: Value = serde_json::from_str("1.50").expect("json");
    assert_eq!(v.to_string(), "1.5");
}

/// The names an object schema requires.
fn required(node: &Value) -> Vec<String> {
    node["required"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
