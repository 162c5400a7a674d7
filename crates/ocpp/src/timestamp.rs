//! The date-time of every OCPP message.
//!
//! Written as RFC 3339 in UTC with exactly three fractional digits (`2024-05-01T12:00:00.000Z`):
//! OCPP 2.0.1 part 4 limits fractions to three digits, and 1.6 receivers accept them.
//! Read leniently: any RFC 3339 form (any number of fractional digits, any offset) and, as some
//! 1.6 stations send it, a date-time without offset, taken as UTC.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, in UTC, with millisecond precision on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The current time, truncated to milliseconds.
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().trunc_subsecs(3))
    }

    /// Parses an OCPP date-time (see the module documentation for what is accepted).
    pub fn parse(s: &str) -> Option<Timestamp> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(Timestamp(t.with_timezone(&Utc)));
        }
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|n| Timestamp(n.and_utc()))
    }

    /// The wire form: RFC 3339, UTC, three fractional digits.
    pub fn to_wire(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Timestamp {
        Timestamp(t)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_wire())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_wire())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 date-time")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Timestamp, E> {
                Timestamp::parse(s).ok_or_else(|| E::custom(format!("invalid date-time `{s}`")))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn writes_three_fractional_digits() {
        let t = Timestamp::parse("2024-05-01T12:00:00.123456789+02:00").expect("parses");
        assert_eq!(t.to_wire(), "2024-05-01T10:00:00.123Z");
        let t = Timestamp::parse("2024-05-01T12:00:00Z").expect("parses");
        assert_eq!(t.to_wire(), "2024-05-01T12:00:00.000Z");
    }

    #[test]
    fn reads_lenient_forms() {
        assert!(Timestamp::parse("2024-05-01T12:00:00").is_some());
        assert!(Timestamp::parse("2024-05-01T12:00:00.5").is_some());
        assert!(Timestamp::parse("2024-05-01").is_none());
        assert!(Timestamp::parse("yesterday").is_none());
    }

    proptest! {
        /// Whatever instant is written, it reads back to the same millisecond.
        #[test]
        fn round_trip(ms in 0i64..4_102_444_800_000) {
            let t = Timestamp(DateTime::from_timestamp_millis(ms).expect("in range"));
            let wire = t.to_wire();
            prop_assert_eq!(Timestamp::parse(&wire), Some(t));
            let frac = wire.rsplit('.').next().expect("has fraction");
            prop_assert_eq!(frac.len(), 4); // three digits and the `Z`
        }
    }
}
