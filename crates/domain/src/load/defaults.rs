//! What each station of a site holds whatever the division: its safe TxDefaultProfile (sent
//! at boot and when its site changes), the operator's profiles sent again to a model that
//! forgets them, and load management's profiles cleared from a station no longer on a site.
//!
//! # Invariants
//!
//! - A station on a site holds a TxDefaultProfile at its safe current
//!   ([`crate::sites::Site::safe_current`]): on EVSE 0, or on each of its EVSEs when its model
//!   refuses EVSE 0 (recorded, or learnt here when EVSE 0 is rejected and the EVSEs accept).
//! - A station on no site holds none of load management's profiles.

use std::sync::Arc;

use super::{DEFAULT_PROFILE_ID, LoadManager, REQUESTED_BY, RESERVED_IDS_FROM, profile};
use crate::commander::Submission;
use crate::commands::{ChargingProfilePurpose, ChargingProfileStatus, Command};

impl LoadManager {
    /// A station booted: a model that forgets its profiles gets again those Arus installed,
    /// and a station of a site its safe TxDefaultProfile.
    pub(super) async fn booted(&self, station_id: &str) {
        let quirks = crate::quirks::of_station(self.store.as_ref(), station_id)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        if quirks.forgets_profiles {
            self.resend(station_id, false).await;
        }
        self.safe_default(station_id, &quirks, true).await;
    }

    /// Follows what an operator changed in the sites: a station whose safe current changed (a
    /// new site, a changed limit, EVSEs added or removed) gets its new safe default, and one no
    /// longer on any site has load management's profiles cleared. Only changed sites are
    /// looked into.
    /// Returns the ids of the sites changed.
    pub(super) async fn follow_site_changes(&self) -> Vec<String> {
        let Ok(sites) = self.sites().await else {
            return Vec::new();
        };
        let before = match self.known.lock() {
            Ok(mut known) => {
                if known.as_ref().is_some_and(|k| Arc::ptr_eq(k, &sites)) {
                    return Vec::new();
                }
                known.replace(sites.clone())
            }
            Err(_) => return Vec::new(),
        };
        // At start, what the stations hold is what they got at their last boot.
        let Some(before) = before else {
            return Vec::new();
        };
        let changed: Vec<String> = sites
            .iter()
            .filter(|s| before.iter().find(|o| o.id == s.id) != Some(*s))
            .map(|s| s.id.clone())
            .collect();
        let old = |id: &str| before.iter().find(|s| s.id == id);
        let mut renew: Vec<String> = Vec::new();
        for site in sites.iter().filter(|s| old(&s.id) != Some(*s)) {
            let mut stations: Vec<&str> =
                site.evses.iter().map(|e| e.station_id.as_str()).collect();
            stations.sort_unstable();
            stations.dedup();
            for station in stations {
                let was = old(&site.id).and_then(|o| o.safe_current(station));
                if was != site.safe_current(station) {
                    renew.push(station.to_string());
                }
            }
        }
        let on_a_site = |station: &str| {
            sites
                .iter()
                .any(|s| s.evses.iter().any(|e| e.station_id == station))
        };
        let mut gone: Vec<String> = before
            .iter()
            .filter(|s| sites.iter().find(|n| n.id == s.id) != Some(*s))
            .flat_map(|s| s.evses.iter().map(|e| e.station_id.clone()))
            .filter(|station| !on_a_site(station))
            .collect();
        gone.sort_unstable();
        gone.dedup();
        // A station not up gets its safe default when it boots.
        if let Ok(up) = self.up.lock() {
            renew.retain(|station| up.contains(station));
        }
        for station in renew {
            tracing::info!(station = %station, "site changed: sending the station its safe default");
            let quirks = crate::quirks::of_station(self.store.as_ref(), &station)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            self.safe_default(&station, &quirks, false).await;
        }
        for station in gone {
            tracing::info!(station = %station, "no longer on a site: clearing load management's profiles");
            self.release(&station).await;
        }
        // What was sent to EVSEs no longer on any site is forgotten.
        if let Ok(mut sent) = self.sent.lock() {
            sent.retain(|(station, evse), _| {
                sites.iter().any(|s| s.evse(station, *evse).is_some())
            });
        }
        changed
    }

    /// Clears the profiles load management installed on a station that is on no site.
    pub(super) async fn release(&self, station_id: &str) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.retain(|(s, _), _| s != station_id);
        }
        let Ok(held) = self.store.charging_profiles(station_id).await else {
            return;
        };
        for p in held
            .iter()
            .filter(|p| p.charging_profile.id >= RESERVED_IDS_FROM)
        {
            let submission = Submission {
                station_id: station_id.to_string(),
                command: Command::ClearChargingProfile(crate::commands::ClearChargingProfile {
                    id: Some(p.charging_profile.id),
                    ..Default::default()
                }),
                requested_by: REQUESTED_BY.into(),
                idempotency_key: None,
                queue_until: None,
                bulk_id: None,
            };
            match self.commander.submit(submission).await {
                Ok(s) => {
                    if let Some(done) = s.done {
                        let _ = done.await;
                    }
                }
                Err(e) => {
                    tracing::warn!(station = %station_id, error = %e, "load management profile not cleared")
                }
            }
        }
    }

    /// Sends again the profiles Arus installed on a station, but for TxProfiles (which ended
    /// with their transactions) and its own load management ones (sent anew). With `with_tx` (the station lost them without rebooting: its transactions go on), the
    /// TxProfiles of its transactions too, load management's included, first.
    pub(crate) async fn resend(&self, station_id: &str, with_tx: bool) {
        let Ok(held) = self.store.charging_profiles(station_id).await else {
            return;
        };
        let tx = |p: &crate::store::StoredProfile| {
            p.charging_profile.purpose == ChargingProfilePurpose::Tx
        };
        let mut again: Vec<_> = held
            .into_iter()
            .filter(|p| p.source == crate::smart_charging::CSMS)
            .filter(|p| {
                if tx(p) {
                    with_tx
                } else {
                    p.charging_profile.id < RESERVED_IDS_FROM
                }
            })
            .collect();
        // The limits of the transactions going on first: they are what the site's division
        // counts on.
        again.sort_by_key(|p| !tx(p));
        for p in again {
            tracing::info!(station = %station_id, profile = p.charging_profile.id, "sending again a profile the station lost");
            self.send(station_id, p.evse_id, p.charging_profile).await;
        }
    }

    /// Sends a station of a site its safe TxDefaultProfile: on EVSE 0 (every EVSE), or on
    /// each of its EVSEs of the site when its model refuses EVSE 0.
    /// After a boot (`boot`) it is always sent; after a site changed, only if the station does
    /// not hold it already.
    pub(crate) async fn safe_default(
        &self,
        station_id: &str,
        quirks: &crate::quirks::ModelQuirks,
        boot: bool,
    ) {
        // A boot happens once per connection: the sites are read as they are now.
        let Ok(sites) = self.read_sites().await else {
            return;
        };
        let Some(site) = sites.iter().find(|s| s.safe_current(station_id).is_some()) else {
            // On no site (any more): what load management left on it goes.
            self.release(station_id).await;
            return;
        };
        let Some(limit) = site.safe_current(station_id) else {
            return;
        };
        if !boot && let Ok(held) = self.store.charging_profiles(station_id).await {
            let defaults: Vec<f64> = held
                .iter()
                .filter(|p| {
                    p.charging_profile.id <= DEFAULT_PROFILE_ID
                        && p.charging_profile.id >= RESERVED_IDS_FROM
                })
                .filter_map(|p| Some(p.charging_profile.schedules.first()?.periods.first()?.limit))
                .collect();
            if !defaults.is_empty() && defaults.iter().all(|l| (l - limit).abs() < 0.05) {
                return;
            }
        }
        let p = profile(
            DEFAULT_PROFILE_ID,
            self.config.stack_level,
            ChargingProfilePurpose::TxDefault,
            limit,
            3,
        );
        // Rejected on EVSE 0: sent to each EVSE instead (not answered: tried at the next
        // boot or site change).
        let zero_rejected = !quirks.no_evse_zero;
        if zero_rejected
            && self.send_answer(station_id, 0, p.clone()).await
                != Some(ChargingProfileStatus::Rejected)
        {
            return;
        }
        let mut all = true;
        for e in site.evses.iter().filter(|e| e.station_id == station_id) {
            // One id per EVSE: a profile's id is unique within the station.
            let mut own = p.clone();
            own.id = DEFAULT_PROFILE_ID - i64::from(e.evse_id);
            all &= self.send(station_id, e.evse_id, own).await;
        }
        // EVSE 0 rejected and each EVSE accepted: its model refuses EVSE 0.
        if zero_rejected && all {
            let detail =
                "it rejected a TxDefaultProfile on EVSE 0 and accepted the same on each EVSE";
            if let Err(e) = crate::quirks::learn(
                self.store.as_ref(),
                station_id,
                crate::quirks::Quirk::NoEvseZero,
                detail.into(),
            )
            .await
            {
                tracing::warn!(station = %station_id, error = %e, "a quirk learnt could not be recorded");
            }
        }
    }
}
