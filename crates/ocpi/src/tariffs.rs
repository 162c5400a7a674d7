//! OCPI 2.2.1 module Tariffs: the Tariff object and its data types (Tariff, TariffElement,
//! PriceComponent, TariffRestrictions, and the enums), as the specification writes them, and
//! [`Tariff::check`], the specification's rules a tariff must keep before Arus accepts or
//! publishes it.
//!
//! # Invariants
//!
//! - The JSON shape is the specification's: snake_case fields, upper-case enum values, optional
//!   fields left out rather than written as `null`.
//! - [`Tariff::check`] reports every broken rule with the field's path, and accepts every
//!   example of the specification (but for its PUT example, which lacks `last_updated`).

use serde::{Deserialize, Serialize};

use crate::types::{
    self, DateTime, DisplayText, Number, Price, Problems, cistring, display_text, problem,
};

/// A tariff (OCPI 2.2.1 §11.3.1 Tariff Object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tariff {
    /// ISO 3166 alpha-2 country code of the CPO that owns it.
    pub country_code: String,
    /// The CPO's party id (ISO 15118).
    pub party_id: String,
    /// Its id within the CPO's platform.
    pub id: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Which sessions it is for; all when left out.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TariffType>,
    /// Texts for people: additional tariff information (not the prices of `elements`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tariff_alt_text: Vec<DisplayText>,
    /// A web page explaining the tariff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tariff_alt_url: Option<String>,
    /// A session costs at least this much.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_price: Option<Price>,
    /// A session costs at most this much.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<Price>,
    /// The elements: for each dimension, the first whose restrictions hold applies.
    pub elements: Vec<TariffElement>,
    /// When it becomes active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub start_date_time: Option<DateTime>,
    /// When it stops being valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub end_date_time: Option<DateTime>,
    /// The energy supplied with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_mix: Option<EnergyMix>,
    /// When it was last updated (required by the specification; set by whoever stores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_updated: Option<DateTime>,
}

/// Which sessions a tariff is for (TariffType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TariffType {
    /// Paid ad hoc at the charge point (a card terminal).
    AdHocPayment,
    /// The charging preference CHEAP.
    ProfileCheap,
    /// The charging preference FAST.
    ProfileFast,
    /// The charging preference GREEN.
    ProfileGreen,
    /// An RFID card without preference, or the preference REGULAR.
    Regular,
}

/// Price components that apply under the same restrictions (TariffElement).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TariffElement {
    /// How each dimension is priced.
    pub price_components: Vec<PriceComponent>,
    /// When they apply; always when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restrictions: Option<TariffRestrictions>,
}

/// How one dimension is priced (PriceComponent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceComponent {
    /// The dimension.
    #[serde(rename = "type")]
    pub kind: TariffDimensionType,
    /// Price per unit, excluding VAT (per kWh, per hour, or per session for FLAT).
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub price: Number,
    /// The VAT percentage; none applies when left out (unlike 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub vat: Option<Number>,
    /// Billed in blocks of this many units (Wh, seconds; none for FLAT).
    pub step_size: u32,
}

/// A priced dimension (TariffDimensionType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TariffDimensionType {
    /// Energy, per kWh; step in Wh.
    Energy,
    /// A fixed fee.
    Flat,
    /// Time not charging, per hour; step in seconds.
    ParkingTime,
    /// Time charging, per hour; step in seconds.
    Time,
}

/// When a tariff element applies (TariffRestrictions); all that are set must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TariffRestrictions {
    /// From this local time of day (`HH:MM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Until this local time of day (`HH:MM`); before `start_time`, it wraps past midnight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// From this local date (`YYYY-MM-DD`, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Until this local date (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// From this much energy in the session, kWh (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub min_kwh: Option<Number>,
    /// Until this much energy, kWh (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub max_kwh: Option<Number>,
    /// While the current over all phases is at least this, A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub min_current: Option<Number>,
    /// While the current over all phases is below this, A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub max_current: Option<Number>,
    /// While the power is at least this, kW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub min_power: Option<Number>,
    /// While the power is below this, kW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub max_power: Option<Number>,
    /// From this long into the session, seconds (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_duration: Option<u64>,
    /// Until this long into the session, seconds (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<u64>,
    /// On these days of the week.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub day_of_week: Vec<DayOfWeek>,
    /// The element prices a reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<ReservationRestrictionType>,
}

/// A day of the week (DayOfWeek).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DayOfWeek {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

/// What of a reservation an element prices (ReservationRestrictionType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReservationRestrictionType {
    /// A reservation.
    Reservation,
    /// A reservation that expired unused.
    ReservationExpires,
}

/// The energy supplied (EnergyMix, from the Locations module).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnergyMix {
    /// All of it from regenerative sources.
    pub is_green_energy: bool,
    /// The sources and their shares.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub energy_sources: Vec<EnergySource>,
    /// Its environmental impact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environ_impact: Vec<EnvironmentalImpact>,
    /// The supplier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier_name: Option<String>,
    /// The supplier's product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_product_name: Option<String>,
}

/// A source's share of the energy (EnergySource).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnergySource {
    /// The source.
    pub source: EnergySourceCategory,
    /// Its share, percent.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub percentage: Number,
}

/// A kind of energy source (EnergySourceCategory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EnergySourceCategory {
    /// Nuclear.
    Nuclear,
    /// Fossil of any kind.
    GeneralFossil,
    /// Coal.
    Coal,
    /// Gas.
    Gas,
    /// Regenerative of any kind.
    GeneralGreen,
    /// Solar.
    Solar,
    /// Wind.
    Wind,
    /// Water.
    Water,
}

/// An environmental impact (EnvironmentalImpact).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvironmentalImpact {
    /// Of what.
    pub category: EnvironmentalImpactCategory,
    /// How much, g/kWh.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub amount: Number,
}

/// A kind of environmental impact (EnvironmentalImpactCategory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EnvironmentalImpactCategory {
    /// Nuclear waste.
    NuclearWaste,
    /// Carbon dioxide.
    CarbonDioxide,
}

/// Whether `s` is a time of day as OCPI writes it: `([0-1][0-9]|2[0-3]):[0-5][0-9]`.
pub fn is_time_of_day(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[2] == b':'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
        && ((b[0] == b'0' || b[0] == b'1') || (b[0] == b'2' && b[1] <= b'3'))
        && b[3] <= b'5'
}

/// Whether `s` is a date as OCPI writes it (`YYYY-MM-DD`, a day the calendar has).
pub fn is_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

impl Tariff {
    /// The specification's rules this tariff breaks, if any: field sizes and formats, at least
    /// one element and one price component in each, step sizes, restrictions that can hold
    /// (a minimum not above its maximum), reservation elements with FLAT and TIME only, VAT
    /// and prices not negative, min_price not above max_price, and `last_updated` set.
    pub fn check(&self) -> Result<(), Problems> {
        let mut out = Problems::new();
        cistring(&mut out, "country_code", &self.country_code, 2);
        if self.country_code.len() == 2
            && !self.country_code.bytes().all(|b| b.is_ascii_alphabetic())
        {
            problem(&mut out, "country_code", "an ISO 3166 alpha-2 code");
        }
        cistring(&mut out, "party_id", &self.party_id, 3);
        cistring(&mut out, "id", &self.id, 36);
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            problem(
                &mut out,
                "currency",
                "an ISO 4217 code: three upper-case letters",
            );
        }
        for (i, t) in self.tariff_alt_text.iter().enumerate() {
            display_text(&mut out, &format!("tariff_alt_text[{i}]"), t);
        }
        if let Some(url) = &self.tariff_alt_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            problem(&mut out, "tariff_alt_url", "an http(s) URL");
        }
        for (field, p) in [
            ("min_price", &self.min_price),
            ("max_price", &self.max_price),
        ] {
            if let Some(p) = p {
                types::price(&mut out, field, p);
            }
        }
        if let (Some(lo), Some(hi)) = (&self.min_price, &self.max_price)
            && lo.excl_vat.0 > hi.excl_vat.0
        {
            problem(&mut out, "min_price", "not above max_price");
        }
        if let (Some(from), Some(to)) = (self.start_date_time, self.end_date_time)
            && from >= to
        {
            problem(&mut out, "end_date_time", "after start_date_time");
        }
        if self.elements.is_empty() {
            problem(&mut out, "elements", "at least one tariff element");
        }
        for (i, e) in self.elements.iter().enumerate() {
            e.check(&mut out, &format!("elements[{i}]"));
        }
        if let Some(mix) = &self.energy_mix {
            types::string(
                &mut out,
                "energy_mix.supplier_name",
                mix.supplier_name.as_deref().unwrap_or(""),
                64,
            );
            types::string(
                &mut out,
                "energy_mix.energy_product_name",
                mix.energy_product_name.as_deref().unwrap_or(""),
                64,
            );
            for (i, s) in mix.energy_sources.iter().enumerate() {
                let p = s.percentage.0;
                if p.is_sign_negative() && !p.is_zero() || p > rust_decimal::Decimal::ONE_HUNDRED {
                    problem(
                        &mut out,
                        format!("energy_mix.energy_sources[{i}].percentage"),
                        "0 to 100",
                    );
                }
            }
        }
        if self.last_updated.is_none() {
            problem(&mut out, "last_updated", "required");
        }
        if out.is_empty() { Ok(()) } else { Err(out) }
    }
}

impl TariffElement {
    fn check(&self, out: &mut Problems, at: &str) {
        if self.price_components.is_empty() {
            problem(
                out,
                format!("{at}.price_components"),
                "at least one price component",
            );
        }
        let reservation = self
            .restrictions
            .as_ref()
            .and_then(|r| r.reservation)
            .is_some();
        for (i, c) in self.price_components.iter().enumerate() {
            let here = format!("{at}.price_components[{i}]");
            if c.price.0.is_sign_negative() && !c.price.0.is_zero() {
                problem(out, format!("{here}.price"), "not negative");
            }
            if let Some(vat) = c.vat
                && (vat.0.is_sign_negative() && !vat.0.is_zero()
                    || vat.0 > rust_decimal::Decimal::ONE_HUNDRED)
            {
                problem(out, format!("{here}.vat"), "a percentage, 0 to 100");
            }
            if c.step_size == 0 && c.kind != TariffDimensionType::Flat {
                problem(out, format!("{here}.step_size"), "at least 1");
            }
            if reservation
                && !matches!(
                    c.kind,
                    TariffDimensionType::Flat | TariffDimensionType::Time
                )
            {
                problem(
                    out,
                    format!("{here}.type"),
                    "a reservation is priced by FLAT and TIME only",
                );
            }
        }
        if let Some(r) = &self.restrictions {
            r.check(out, &format!("{at}.restrictions"));
        }
    }
}

impl TariffRestrictions {
    fn check(&self, out: &mut Problems, at: &str) {
        for (field, v) in [
            ("start_time", &self.start_time),
            ("end_time", &self.end_time),
        ] {
            if let Some(v) = v
                && !is_time_of_day(v)
            {
                problem(
                    out,
                    format!("{at}.{field}"),
                    "a time of day, HH:MM (00:00 to 23:59)",
                );
            }
        }
        for (field, v) in [
            ("start_date", &self.start_date),
            ("end_date", &self.end_date),
        ] {
            if let Some(v) = v
                && !is_date(v)
            {
                problem(out, format!("{at}.{field}"), "a date, YYYY-MM-DD");
            }
        }
        if let (Some(from), Some(to)) = (&self.start_date, &self.end_date)
            && is_date(from)
            && is_date(to)
            && from >= to
        {
            problem(
                out,
                format!("{at}.end_date"),
                "after start_date (it is exclusive)",
            );
        }
        for (lo_name, lo, hi_name, hi) in [
            ("min_kwh", self.min_kwh, "max_kwh", self.max_kwh),
            (
                "min_current",
                self.min_current,
                "max_current",
                self.max_current,
            ),
            ("min_power", self.min_power, "max_power", self.max_power),
        ] {
            for (name, v) in [(lo_name, lo), (hi_name, hi)] {
                if let Some(v) = v
                    && v.0.is_sign_negative()
                    && !v.0.is_zero()
                {
                    problem(out, format!("{at}.{name}"), "not negative");
                }
            }
            if let (Some(lo), Some(hi)) = (lo, hi)
                && lo.0 >= hi.0
            {
                problem(
                    out,
                    format!("{at}.{hi_name}"),
                    format!("above {lo_name} (it is exclusive)"),
                );
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_duration, self.max_duration)
            && lo >= hi
        {
            problem(
                out,
                format!("{at}.max_duration"),
                "above min_duration (it is exclusive)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/spec-examples");

    fn examples() -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = std::fs::read_dir(EXAMPLES)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("tariff") && n.ends_with(".json"))
                    })
                    .filter_map(|p| {
                        let name = p.file_name()?.to_str()?.to_string();
                        Some((name, std::fs::read_to_string(&p).ok()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Every tariff example of the specification parses, writes back to the same JSON, and
    /// keeps the rules (its PUT example lacks the required `last_updated`).
    #[test]
    fn the_specifications_tariff_examples() {
        let all = examples();
        assert!(all.len() >= 20, "the examples are there: {}", all.len());
        for (name, text) in all {
            let tariff: Tariff =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let written: serde_json::Value = serde_json::to_value(&tariff).unwrap_or_default();
            let given: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            assert_eq!(written, given, "{name} writes back as it was");
            match (name.as_str(), tariff.check()) {
                ("tariff_put_example.json", Err(p)) => {
                    assert_eq!(p.len(), 1, "{p:?}");
                    assert_eq!(p[0].field, "last_updated");
                }
                (_, Ok(())) => {}
                (_, Err(p)) => panic!("{name}: {p:?}"),
            }
        }
    }

    fn tariff(json: serde_json::Value) -> Tariff {
        let mut base = serde_json::json!({
            "country_code": "MY", "party_id": "ARU", "id": "T1", "currency": "MYR",
            "last_updated": "2026-01-01T00:00:00Z",
            "elements": [{"price_components": [{"type": "ENERGY", "price": 1.2, "vat": 8, "step_size": 1}]}]});
        if let (Some(b), Some(j)) = (base.as_object_mut(), json.as_object()) {
            for (k, v) in j {
                b.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(base).unwrap_or_else(|e| panic!("a tariff: {e}"))
    }

    fn problems(t: &Tariff) -> Vec<String> {
        t.check()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.field)
            .collect()
    }

    #[test]
    fn broken_rules_are_named_by_their_field() {
        assert!(
            tariff(serde_json::json!({})).check().is_ok(),
            "a Malaysian tariff with 8 % service tax"
        );
        let bad = tariff(serde_json::json!({
            "country_code": "MYS", "currency": "myr",
            "min_price": {"excl_vat": 10, "incl_vat": 10.8}, "max_price": {"excl_vat": 5},
            "elements": [
                {"price_components": []},
                {"price_components": [{"type": "TIME", "price": -1, "step_size": 0, "vat": 120}],
                 "restrictions": {"start_time": "24:00", "end_date": "2026-02-30",
                                  "min_kwh": 50, "max_kwh": 20, "min_duration": 600, "max_duration": 60}},
                {"price_components": [{"type": "ENERGY", "price": 1, "step_size": 1}],
                 "restrictions": {"reservation": "RESERVATION"}}]}));
        assert_eq!(
            problems(&bad),
            [
                "country_code",
                "currency",
                "min_price",
                "elements[0].price_components",
                "elements[1].price_components[0].price",
                "elements[1].price_components[0].vat",
                "elements[1].price_components[0].step_size",
                "elements[1].restrictions.start_time",
                "elements[1].restrictions.end_date",
                "elements[1].restrictions.max_kwh",
                "elements[1].restrictions.max_duration",
                "elements[2].price_components[0].type",
            ]
        );
        // Unknown fields are refused when parsing, with their name.
        let unknown = serde_json::from_str::<Tariff>(
            r#"{"country_code":"MY","party_id":"ARU","id":"T","currency":"MYR","elements":[],"colour":"red"}"#,
        );
        assert!(unknown.is_err_and(|e| e.to_string().contains("colour")));
    }

    #[test]
    fn times_of_day_and_dates_as_ocpi_writes_them() {
        for ok in ["00:00", "09:30", "19:59", "23:59"] {
            assert!(is_time_of_day(ok), "{ok}");
        }
        for bad in ["24:00", "9:30", "12:60", "1230", "ab:cd", "12:3x"] {
            assert!(!is_time_of_day(bad), "{bad}");
        }
        assert!(is_date("2024-02-29") && !is_date("2023-02-29") && !is_date("2024-2-01"));
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn number() -> impl Strategy<Value = Number> {
        (0i64..10_000_000, 0u32..=4).prop_map(|(units, scale)| Number(Decimal::new(units, scale)))
    }

    fn time_of_day() -> impl Strategy<Value = String> {
        (0u32..24, 0u32..60).prop_map(|(h, m)| format!("{h:02}:{m:02}"))
    }

    fn restrictions() -> impl Strategy<Value = TariffRestrictions> {
        (
            proptest::option::of(time_of_day()),
            proptest::option::of(time_of_day()),
            proptest::option::of(number()),
            proptest::option::of(number()),
            proptest::option::of(0u64..100_000),
            proptest::collection::vec(
                prop_oneof![
                    Just(DayOfWeek::Monday),
                    Just(DayOfWeek::Saturday),
                    Just(DayOfWeek::Sunday)
                ],
                0..3,
            ),
            proptest::option::of(prop_oneof![
                Just(ReservationRestrictionType::Reservation),
                Just(ReservationRestrictionType::ReservationExpires)
            ]),
        )
            .prop_map(
                |(
                    start_time,
                    end_time,
                    min_kwh,
                    max_power,
                    max_duration,
                    day_of_week,
                    reservation,
                )| {
                    TariffRestrictions {
                        start_time,
                        end_time,
                        min_kwh,
                        max_power,
                        max_duration,
                        day_of_week,
                        reservation,
                        ..TariffRestrictions::default()
                    }
                },
            )
    }

    fn component() -> impl Strategy<Value = PriceComponent> {
        (
            prop_oneof![
                Just(TariffDimensionType::Energy),
                Just(TariffDimensionType::Flat),
                Just(TariffDimensionType::ParkingTime),
                Just(TariffDimensionType::Time)
            ],
            number(),
            proptest::option::of(number()),
            1u32..3600,
        )
            .prop_map(|(kind, price, vat, step_size)| PriceComponent {
                kind,
                price,
                vat,
                step_size,
            })
    }

    fn tariff() -> impl Strategy<Value = Tariff> {
        (
            proptest::collection::vec(
                (
                    proptest::collection::vec(component(), 1..4),
                    proptest::option::of(restrictions()),
                ),
                1..5,
            ),
            proptest::option::of(number()),
            proptest::option::of(prop_oneof![
                Just(TariffType::Regular),
                Just(TariffType::AdHocPayment)
            ]),
            0i64..2_000_000_000,
        )
            .prop_map(|(elements, min, kind, at)| Tariff {
                country_code: "MY".into(),
                party_id: "ARU".into(),
                id: "T-1".into(),
                currency: "MYR".into(),
                kind,
                tariff_alt_text: vec![DisplayText {
                    language: "ms".into(),
                    text: "RM1.20 sekWj".into(),
                }],
                tariff_alt_url: None,
                min_price: min.map(|excl_vat| Price {
                    excl_vat,
                    incl_vat: None,
                }),
                max_price: None,
                elements: elements
                    .into_iter()
                    .map(|(price_components, restrictions)| TariffElement {
                        price_components,
                        restrictions,
                    })
                    .collect(),
                start_date_time: None,
                end_date_time: None,
                energy_mix: None,
                last_updated: chrono::DateTime::from_timestamp(at, 0).map(DateTime),
            })
    }

    proptest! {
        /// Whatever tariff is written, it reads back the same: every number exact.
        #[test]
        fn tariffs_read_back_as_written(t in tariff()) {
            let json = serde_json::to_string(&t).unwrap_or_default();
            let back: Result<Tariff, _> = serde_json::from_str(&json);
            prop_assert_eq!(back.ok(), Some(t), "{}", json);
        }
    }
}
