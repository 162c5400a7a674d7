//! Charging profiles as stored, on both backends: a profile replaces the one with its id and
//! the one on the same EVSE with the same purpose and stack level (1.6 §3.13.2); clearing
//! removes what matches every criterion given, never external constraints (which only their
//! source removes); a self-registered station that goes away takes its profiles with it.

use arus_domain::commands::{
    ChargingProfile, ChargingProfileKind, ChargingProfilePurpose, ChargingRateUnit,
    ChargingSchedule, Installed, SchedulePeriod,
};
use arus_domain::store::{ProfileCriteria, Write};
use chrono::{DateTime, Utc};

use arus_store::testing::TestDatabase as Backend;

arus_store::both_backends!(profiles_replace_and_clear_as_a_station_does);

fn at() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_780_000_000, 0).expect("valid")
}

fn put(evse_id: u32, id: i64, purpose: ChargingProfilePurpose, stack: u32, source: &str) -> Write {
    Write::PutChargingProfile {
        station_id: "CS1".into(),
        installed: Box::new(Installed {
            evse_id,
            profile: ChargingProfile {
                id,
                stack_level: stack,
                purpose,
                kind: ChargingProfileKind::Absolute,
                recurrency: None,
                valid_from: None,
                valid_to: None,
                transaction_id: None,
                schedules: vec![ChargingSchedule {
                    id: None,
                    start: Some(at()),
                    duration_s: None,
                    rate_unit: ChargingRateUnit::A,
                    min_rate: None,
                    periods: vec![SchedulePeriod {
                        start_s: 0,
                        limit: id as f64,
                        phases: None,
                        phase_to_use: None,
                    }],
                }],
            },
        }),
        source: source.into(),
        at: at(),
    }
}

async fn held(s: &dyn arus_domain::store::Store) -> Vec<(u32, i64, String)> {
    s.charging_profiles("CS1")
        .await
        .expect("read")
        .into_iter()
        .map(|p| (p.evse_id, p.charging_profile.id, p.source))
        .collect()
}

async fn profiles_replace_and_clear_as_a_station_does(b: &Backend) {
    use ChargingProfilePurpose::*;
    let s = b.open().await;
    s.commit(vec![
        put(0, 1, TxDefault, 0, "CSMS"),
        put(1, 2, TxDefault, 0, "CSMS"),
        put(1, 3, TxDefault, 1, "CSMS"),
        put(0, 4, ChargingStationMax, 0, "CSMS"),
        put(1, 5, ExternalConstraints, 0, "EMS"),
    ])
    .await
    .expect("commit");
    assert_eq!(held(s.as_ref()).await.len(), 5);
    // Same EVSE, purpose and stack level: replaces profile 2. Same id: replaces profile 4.
    s.commit(vec![
        put(1, 6, TxDefault, 0, "CSMS"),
        put(0, 4, ChargingStationMax, 2, "CSMS"),
    ])
    .await
    .expect("commit");
    let ids: Vec<i64> = held(s.as_ref()).await.iter().map(|h| h.1).collect();
    assert_eq!(ids, [4, 1, 5, 6, 3]);
    let stored = s.charging_profiles("CS1").await.expect("read");
    assert_eq!(stored[0].charging_profile.stack_level, 2);
    assert_eq!(stored[0].installed_at, at());
    // Clearing every TxDefault on EVSE 1, then everything: the external constraint stays.
    s.commit(vec![Write::ClearChargingProfiles {
        station_id: "CS1".into(),
        criteria: ProfileCriteria {
            evse_id: Some(1),
            purpose: Some(TxDefault),
            ..ProfileCriteria::default()
        },
    }])
    .await
    .expect("commit");
    let ids: Vec<i64> = held(s.as_ref()).await.iter().map(|h| h.1).collect();
    assert_eq!(ids, [4, 1, 5]);
    s.commit(vec![Write::ClearChargingProfiles {
        station_id: "CS1".into(),
        criteria: ProfileCriteria::default(),
    }])
    .await
    .expect("commit");
    assert_eq!(held(s.as_ref()).await, [(1, 5, "EMS".to_string())]);
    // By id, and another station's profiles are never touched.
    s.commit(vec![
        put(0, 7, TxDefault, 0, "CSMS"),
        Write::ClearChargingProfiles {
            station_id: "CS2".into(),
            criteria: ProfileCriteria::default(),
        },
        Write::ClearChargingProfiles {
            station_id: "CS1".into(),
            criteria: ProfileCriteria {
                id: Some(5),
                ..ProfileCriteria::default()
            },
        },
    ])
    .await
    .expect("commit");
    let ids: Vec<i64> = held(s.as_ref()).await.iter().map(|h| h.1).collect();
    assert_eq!(
        ids,
        [7, 5],
        "external constraints are not cleared, even by id"
    );
}
