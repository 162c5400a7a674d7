//! The types OCPI's objects are made of (the specification's "Types" chapter): exact numbers,
//! timestamps, display texts and prices, and the checks of its string types.
//!
//! # Invariants
//!
//! - A [`Number`] read from JSON is the decimal the JSON wrote (`0.1` is one tenth), and is
//!   written back as the same JSON number.
//! - A [`DateTime`] is in UTC and is written as the specification's examples are
//!   (`2015-06-29T20:39:09Z`, fractional seconds only when there are some).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An OCPI number: a JSON number, held as an exact decimal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Number(pub Decimal);

impl Number {
    /// The number as a decimal.
    pub fn decimal(self) -> Decimal {
        self.0
    }
}

impl From<Decimal> for Number {
    fn from(d: Decimal) -> Number {
        Number(d)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.normalize().fmt(f)
    }
}

impl FromStr for Number {
    type Err = rust_decimal::Error;

    fn from_str(s: &str) -> Result<Number, Self::Err> {
        Decimal::from_str_exact(s).map(Number)
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A JSON number of the shortest form that reads back as the same value: the decimal's
        // digits, read as the nearest float (exact for the digits OCPI uses).
        let f: f64 = self
            .0
            .normalize()
            .to_string()
            .parse()
            .map_err(serde::ser::Error::custom)?;
        s.serialize_f64(f)
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Number, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Number;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(Decimal::from(v)))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(Decimal::from(v)))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Number, E> {
                // The float's shortest decimal form is the number the JSON wrote (JSON parsers
                // read a number to the nearest float, and that prints back as written).
                if !v.is_finite() {
                    return Err(E::custom("a number must be finite"));
                }
                Decimal::from_str_exact(&v.to_string())
                    .or_else(|_| Decimal::from_str(&v.to_string()))
                    .map(Number)
                    .map_err(|_| E::custom(format!("{v} is out of range")))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// An OCPI timestamp: UTC, written with a `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(pub chrono::DateTime<chrono::Utc>);

impl Serialize for DateTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

impl<'de> Deserialize<'de> for DateTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DateTime, D::Error> {
        let s = String::deserialize(d)?;
        parse_datetime(&s)
            .map(DateTime)
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not an RFC 3339 timestamp")))
    }
}

/// Reads a timestamp as OCPI writes them: RFC 3339, where a missing time zone designator means
/// UTC (an offset other than `Z` is taken as written and converted).
pub fn parse_datetime(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// A text for people in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DisplayText {
    /// ISO 639-1 language code.
    pub language: String,
    /// The text: no markup, at most 512 characters.
    pub text: String,
}

/// An amount of money, with and without VAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Price {
    /// Excluding VAT.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub excl_vat: Number,
    /// Including VAT, where it applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub incl_vat: Option<Number>,
}

/// Where a value breaks the specification's rules, for people: the field's path and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, as a path (`elements[1].restrictions.start_time`).
    pub field: String,
    /// What is wrong.
    pub why: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.field, self.why)
    }
}

/// The problems found by a check.
pub type Problems = Vec<Problem>;

/// Notes a problem with `field`.
pub(crate) fn problem(out: &mut Problems, field: impl Into<String>, why: impl Into<String>) {
    out.push(Problem {
        field: field.into(),
        why: why.into(),
    });
}

/// Checks a `CiString(max)`: printable ASCII, at most `max` characters, not empty.
pub(crate) fn cistring(out: &mut Problems, field: &str, s: &str, max: usize) {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        problem(
            out,
            field,
            format!("1 to {max} printable ASCII characters (CiString({max}))"),
        );
    }
}

/// Checks a `string(max)`: at most `max` characters.
pub(crate) fn string(out: &mut Problems, field: &str, s: &str, max: usize) {
    if s.chars().count() > max {
        problem(out, field, format!("at most {max} characters"));
    }
}

/// Checks a display text.
pub(crate) fn display_text(out: &mut Problems, field: &str, t: &DisplayText) {
    if t.language.len() != 2 || !t.language.bytes().all(|b| b.is_ascii_lowercase()) {
        problem(
            out,
            format!("{field}.language"),
            "an ISO 639-1 code: two lower-case letters",
        );
    }
    string(out, &format!("{field}.text"), &t.text, 512);
    if t.text.contains('<') && t.text.contains('>') {
        problem(out, format!("{field}.text"), "no markup");
    }
}

/// Checks a price: not negative, and including VAT not below excluding it.
pub(crate) fn price(out: &mut Problems, field: &str, p: &Price) {
    if p.excl_vat.0.is_sign_negative() && !p.excl_vat.0.is_zero() {
        problem(out, format!("{field}.excl_vat"), "not negative");
    }
    if let Some(incl) = p.incl_vat
        && incl.0 < p.excl_vat.0
    {
        problem(
            out,
            format!("{field}.incl_vat"),
            "not below the price excluding VAT",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_are_the_decimals_the_json_wrote() {
        let n: Number = serde_json::from_str("0.1").unwrap_or_default();
        assert_eq!(n.0, Decimal::new(1, 1));
        let sum: Decimal = ["0.1", "0.2"]
            .iter()
            .map(|s| serde_json::from_str::<Number>(s).unwrap_or_default().0)
            .sum();
        assert_eq!(sum, Decimal::new(3, 1), "no float drift");
        assert_eq!(serde_json::to_string(&n).ok().as_deref(), Some("0.1"));
        let whole: Number = serde_json::from_str("2").unwrap_or_default();
        assert_eq!(whole.0, Decimal::from(2));
        assert!(serde_json::from_str::<Number>("\"2\"").is_err());
    }

    #[test]
    fn timestamps_read_as_ocpi_writes_them_and_write_with_a_z() {
        for (text, written) in [
            ("2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
            ("2015-06-29T20:39:09", "2015-06-29T20:39:09Z"),
            ("2016-12-29T17:45:09.2Z", "2016-12-29T17:45:09.200Z"),
            ("2018-01-01T01:08:01.123", "2018-01-01T01:08:01.123Z"),
        ] {
            let t: Result<DateTime, _> = serde_json::from_str(&format!("\"{text}\""));
            let t = t.unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                serde_json::to_string(&t).ok(),
                Some(format!("\"{written}\"")),
                "{text}"
            );
        }
        assert!(serde_json::from_str::<DateTime>("\"yesterday\"").is_err());
    }

    proptest! {
        /// A number with up to four decimals survives JSON both ways exactly.
        #[test]
        fn numbers_round_trip(units in -10_000_000_000i64..10_000_000_000, scale in 0u32..=4) {
            let n = Number(Decimal::new(units, scale));
            let json = serde_json::to_string(&n).unwrap_or_default();
            let back: Number = serde_json::from_str(&json).unwrap_or_default();
            prop_assert_eq!(back.0.normalize(), n.0.normalize(), "{}", json);
        }
    }
}
