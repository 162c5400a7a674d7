//! The benchmark loop's MeterValues, rendered once from the generated type.
//!
//! Invariant: a rendered message is the typed message with only the timestamp and the register
//! replaced, so it is as valid as the message the template was made from.

use arus_ocpp::{Timestamp, v16, v201};

use super::Outgoing;
use super::transactions::unit;
use crate::behaviour::StationState;

/// The benchmark loop's MeterValues (the register, power, current and voltage of connector 1),
/// rendered once from the generated type; each message only fills in the timestamp and the
/// register, so it costs no more than a `format!`.
pub(crate) struct Template {
    /// The action's wire name.
    pub action: &'static str,
    /// Literal text and slots, in order.
    pieces: Vec<Piece>,
    len: usize,
}

enum Piece {
    Text(String),
    Timestamp,
    /// The register, a JSON string in 1.6 and a number in 2.0.1.
    Register {
        quoted: bool,
    },
}

/// Values no real message has, found again in the rendered template.
const TS_MARK: &str = "\"1999-12-31T23:59:59.999Z\"";
const WH_MARK_V16: &str = "\"9876543210\"";
const WH_MARK_V201: &str = "9876543210.0";

impl Template {
    pub fn meter_values(st: &StationState) -> Template {
        let ts = Timestamp::parse(&TS_MARK[1..TS_MARK.len() - 1]).expect("a valid mark");
        let (message, wh_mark) = if st.v16() {
            use v16::{Measurand as M, UnitOfMeasure as U};
            let sample = |value: &str, measurand, phase, unit| v16::SampledValue {
                value: value.to_string(),
                context: None,
                format: None,
                measurand: Some(measurand),
                phase,
                location: None,
                unit: Some(unit),
            };
            let mut register = sample("9876543210", M::EnergyActiveImportRegister, None, U::Wh);
            register.context = Some(v16::ReadingContext::SamplePeriodic);
            let m = Outgoing::new(&v16::MeterValuesRequest {
                connector_id: 1,
                transaction_id: None,
                meter_value: vec![v16::MeterValue {
                    timestamp: ts,
                    sampled_value: vec![
                        register,
                        sample("7360", M::PowerActiveImport, None, U::W),
                        sample("32.0", M::CurrentImport, Some(v16::Phase::L1), U::A),
                        sample("230.1", M::Voltage, Some(v16::Phase::L1N), U::V),
                    ],
                }],
            });
            (m, WH_MARK_V16)
        } else {
            use v201::{MeasurandEnum as M, PhaseEnum as P};
            let sample = |value: f64, measurand, phase, u| v201::SampledValue {
                custom_data: None,
                value,
                context: None,
                measurand: Some(measurand),
                phase,
                location: None,
                signed_meter_value: None,
                unit_of_measure: unit(u),
            };
            let mut register = sample(9_876_543_210.0, M::EnergyActiveImportRegister, None, "Wh");
            register.context = Some(v201::ReadingContextEnum::SamplePeriodic);
            let m = Outgoing::new(&v201::MeterValuesRequest {
                custom_data: None,
                evse_id: 1,
                meter_value: vec![v201::MeterValue {
                    custom_data: None,
                    sampled_value: vec![
                        register,
                        sample(7360.0, M::PowerActiveImport, None, "W"),
                        sample(32.0, M::CurrentImport, Some(P::L1), "A"),
                        sample(230.1, M::Voltage, Some(P::L1N), "V"),
                    ],
                    timestamp: ts,
                }],
            });
            (m, WH_MARK_V201)
        };
        Template::split(message, wh_mark)
    }

    /// Cuts `text` at the timestamp and register marks.
    fn split(message: Outgoing, wh_mark: &str) -> Template {
        let text = &message.payload;
        let mut marks: Vec<(usize, &str, Piece)> = Vec::new();
        if let Some(at) = text.find(TS_MARK) {
            marks.push((at, TS_MARK, Piece::Timestamp));
        }
        if let Some(at) = text.find(wh_mark) {
            let quoted = wh_mark.starts_with('"');
            marks.push((at, wh_mark, Piece::Register { quoted }));
        }
        debug_assert_eq!(marks.len(), 2, "both marks in {text}");
        marks.sort_by_key(|m| m.0);
        let mut pieces = Vec::new();
        let mut from = 0;
        for (at, mark, piece) in marks {
            pieces.push(Piece::Text(text[from..at].to_string()));
            pieces.push(piece);
            from = at + mark.len();
        }
        pieces.push(Piece::Text(text[from..].to_string()));
        Template {
            action: message.action,
            pieces,
            len: text.len(),
        }
    }

    /// The message at `ts` with register `wh`.
    pub fn render(&self, ts: &Timestamp, wh: u64) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(self.len);
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Timestamp => {
                    out.push('"');
                    out.push_str(&ts.to_wire());
                    out.push('"');
                }
                Piece::Register { quoted: true } => {
                    let _ = write!(out, "\"{wh}\"");
                }
                Piece::Register { quoted: false } => {
                    let _ = write!(out, "{wh}");
                }
            }
        }
        out
    }
}
