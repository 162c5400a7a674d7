//! Authorization, sessions and their meter values: 1.6 Authorize, Start/StopTransaction and
//! MeterValues; 2.0.1 Authorize and TransactionEvent. A session's readings are the same in both
//! versions; only their spelling differs.

use arus_ocpp::{Timestamp, v16, v201};

use super::Outgoing;
use crate::behaviour::{Evse, StationState, Tx};

/// The token every simulated 2.0.1 driver presents.
fn id_token(token: &str) -> v201::IdToken {
    v201::IdToken {
        custom_data: None,
        additional_info: None,
        id_token: token.to_string(),
        r#type: v201::IdTokenEnum::ISO14443,
    }
}

pub(crate) fn authorize(st: &StationState, token: &str) -> Outgoing {
    if st.v16() {
        Outgoing::new(&v16::AuthorizeRequest {
            id_tag: token.to_string(),
        })
    } else {
        Outgoing::new(&v201::AuthorizeRequest {
            custom_data: None,
            id_token: id_token(token),
            certificate: None,
            iso15118_certificate_hash_data: None,
        })
    }
}

/// 1.6 StartTransaction.
pub(crate) fn start_transaction(connector: u32, token: &str, meter_start: i64) -> Outgoing {
    Outgoing::new(&v16::StartTransactionRequest {
        connector_id: connector.into(),
        id_tag: token.to_string(),
        meter_start,
        reservation_id: None,
        timestamp: Timestamp::now(),
    })
}

/// 1.6 StopTransaction, with the closing meter value.
pub(crate) fn stop_transaction(
    transaction_id: i64,
    token: &str,
    meter_stop: i64,
    remote: bool,
    end: v16::MeterValue,
) -> Outgoing {
    let transaction_data = v16::TransactionData {
        timestamp: end.timestamp,
        sampled_value: end
            .sampled_value
            .into_iter()
            .map(|s| v16::TransactionDataSampledValue {
                value: s.value,
                context: s.context,
                format: s.format,
                measurand: s.measurand,
                phase: s.phase,
                location: s.location,
                unit: s.unit,
            })
            .collect(),
    };
    Outgoing::new(&v16::StopTransactionRequest {
        id_tag: Some(token.to_string()),
        meter_stop,
        timestamp: Timestamp::now(),
        transaction_id,
        reason: Some(if remote {
            v16::Reason::Remote
        } else {
            v16::Reason::EVDisconnected
        }),
        transaction_data: Some(vec![transaction_data]),
    })
}

/// 1.6 MeterValues of a transaction.
pub(crate) fn meter_values_v16(
    connector: u32,
    transaction_id: i64,
    mv: v16::MeterValue,
) -> Outgoing {
    Outgoing::new(&v16::MeterValuesRequest {
        connector_id: connector.into(),
        transaction_id: Some(transaction_id),
        meter_value: vec![mv],
    })
}

/// What a session's meter shows: the register, power, the current on each phase, voltage and
/// the EV's state of charge.
struct Reading {
    energy_wh: f64,
    power_w: f64,
    amps: [f64; 3],
    soc: f64,
}

impl Reading {
    fn of(e: &Evse, tx: &Tx, power_w: f64) -> Reading {
        Reading {
            energy_wh: e.meter_wh,
            power_w,
            amps: tx.car.phase_amps().map(|a| (a * 10.0).round() / 10.0),
            soc: (tx.car.soc * 100.0).clamp(0.0, 100.0),
        }
    }
}

const VOLTAGE: f64 = 230.4;

/// A 1.6 meter value of EVSE `e`'s session drawing `power_w`.
pub(crate) fn meter_value_v16(
    e: &Evse,
    tx: &Tx,
    power_w: f64,
    context: v16::ReadingContext,
) -> v16::MeterValue {
    use v16::{Measurand as M, Phase as P, UnitOfMeasure as U};
    let r = Reading::of(e, tx, power_w);
    let sample = |value: String, measurand, phase, location, unit| v16::SampledValue {
        value,
        context: Some(context),
        format: None,
        measurand: Some(measurand),
        phase,
        location,
        unit: Some(unit),
    };
    let amps = r.amps.map(|a| format!("{a:.1}"));
    v16::MeterValue {
        timestamp: Timestamp::now(),
        sampled_value: vec![
            sample(
                format!("{:.0}", r.energy_wh),
                M::EnergyActiveImportRegister,
                None,
                None,
                U::Wh,
            ),
            sample(
                format!("{:.0}", r.power_w),
                M::PowerActiveImport,
                None,
                None,
                U::W,
            ),
            sample(amps[0].clone(), M::CurrentImport, Some(P::L1), None, U::A),
            sample(amps[1].clone(), M::CurrentImport, Some(P::L2), None, U::A),
            sample(amps[2].clone(), M::CurrentImport, Some(P::L3), None, U::A),
            sample(VOLTAGE.to_string(), M::Voltage, Some(P::L1N), None, U::V),
            sample(
                format!("{:.0}", r.soc),
                M::SoC,
                None,
                Some(v16::Location::EV),
                U::Percent,
            ),
        ],
    }
}

pub(super) fn unit(unit: &str) -> Option<v201::UnitOfMeasure> {
    Some(v201::UnitOfMeasure {
        unit: Some(unit.to_string()),
        ..Default::default()
    })
}

/// A 2.0.1 meter value of EVSE `e`'s session drawing `power_w`.
pub(crate) fn meter_value_v201(
    e: &Evse,
    tx: &Tx,
    power_w: f64,
    context: v201::ReadingContextEnum,
) -> v201::MeterValue {
    use v201::{MeasurandEnum as M, PhaseEnum as P};
    let r = Reading::of(e, tx, power_w);
    let sample = |value: f64, measurand, phase, location, u| v201::SampledValue {
        custom_data: None,
        value,
        context: Some(context),
        measurand: Some(measurand),
        phase,
        location,
        signed_meter_value: None,
        unit_of_measure: unit(u),
    };
    let amps = r.amps;
    v201::MeterValue {
        custom_data: None,
        sampled_value: vec![
            sample(
                r.energy_wh.round(),
                M::EnergyActiveImportRegister,
                None,
                None,
                "Wh",
            ),
            sample(r.power_w.round(), M::PowerActiveImport, None, None, "W"),
            sample(amps[0], M::CurrentImport, Some(P::L1), None, "A"),
            sample(amps[1], M::CurrentImport, Some(P::L2), None, "A"),
            sample(amps[2], M::CurrentImport, Some(P::L3), None, "A"),
            sample(VOLTAGE, M::Voltage, Some(P::L1N), None, "V"),
            sample(
                r.soc.round(),
                M::SoC,
                None,
                Some(v201::LocationEnum::EV),
                "Percent",
            ),
        ],
        timestamp: Timestamp::now(),
    }
}

/// A TransactionEvent of EVSE `evse`'s transaction, taking the next sequence number; marked
/// offline when the station is. The caller adds what the event carries.
pub(crate) fn tx_event(
    st: &mut StationState,
    evse: usize,
    event_type: v201::TransactionEventEnum,
    trigger_reason: v201::TriggerReasonEnum,
) -> v201::TransactionEventRequest {
    let offline = !st.online;
    let e = &mut st.evses[evse];
    let tx = e.tx.as_mut().expect("a transaction");
    let seq = tx.seq;
    tx.seq += 1;
    let started = event_type == v201::TransactionEventEnum::Started;
    v201::TransactionEventRequest {
        custom_data: None,
        event_type,
        meter_value: None,
        timestamp: Timestamp::now(),
        trigger_reason,
        seq_no: seq.into(),
        offline: offline.then_some(true),
        number_of_phases_used: None,
        cable_max_current: None,
        reservation_id: None,
        transaction_info: v201::Transaction {
            custom_data: None,
            transaction_id: tx.id.clone(),
            charging_state: None,
            time_spent_charging: None,
            stopped_reason: None,
            remote_start_id: tx.remote_start_id.filter(|_| started),
        },
        evse: Some(v201::EVSE {
            custom_data: None,
            id: e.id.into(),
            connector_id: Some(1),
        }),
        id_token: None,
    }
}

/// The token a 2.0.1 TransactionEvent carries when it is authorized.
pub(crate) fn tx_token(token: &str) -> Option<v201::IdToken> {
    Some(id_token(token))
}

/// MeterValues answering a trigger: the register alone.
pub(crate) fn triggered_meter_values(st: &StationState, e: &Evse) -> Outgoing {
    if st.v16() {
        Outgoing::new(&v16::MeterValuesRequest {
            connector_id: e.id.into(),
            transaction_id: None,
            meter_value: vec![v16::MeterValue {
                timestamp: Timestamp::now(),
                sampled_value: vec![v16::SampledValue {
                    value: format!("{:.0}", e.meter_wh),
                    context: Some(v16::ReadingContext::Trigger),
                    format: None,
                    measurand: None,
                    phase: None,
                    location: None,
                    unit: Some(v16::UnitOfMeasure::Wh),
                }],
            }],
        })
    } else {
        Outgoing::new(&v201::MeterValuesRequest {
            custom_data: None,
            evse_id: e.id.into(),
            meter_value: vec![v201::MeterValue {
                custom_data: None,
                sampled_value: vec![v201::SampledValue {
                    custom_data: None,
                    value: e.meter_wh.round(),
                    context: Some(v201::ReadingContextEnum::Trigger),
                    measurand: None,
                    phase: None,
                    location: None,
                    signed_meter_value: None,
                    unit_of_measure: None,
                }],
                timestamp: Timestamp::now(),
            }],
        })
    }
}
