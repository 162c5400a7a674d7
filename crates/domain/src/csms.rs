//! The service the protocol adapters call: each method applies the domain's rules, commits what
//! must be kept, publishes what happened, and only then returns the answer for the station.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;

use crate::authorization::{Authorization, AuthorizationStatus, IdToken, authorize};
use crate::availability::StatusReport;
use crate::events::{Event, EventBus};
use crate::metering::MeterValue;
use crate::notices::{DataTransferAnswer, Notice, NoticeKind};
use crate::provisioning::{BootDecision, BootInfo, RegistrationStatus, decide_boot};
use crate::store::{StartKey, Store, StoreError, StoredTransaction, Write};
use crate::transactions::{EventKind, Transaction, TransactionEvent, TransactionIds, apply};
use crate::{StationId, Time};

/// The token type of free charging (2.0.1 IdTokenEnumType `NoAuthorization`).
const NO_AUTHORIZATION: &str = "NoAuthorization";

/// Settings of the domain's rules.
#[derive(Debug, Clone)]
pub struct CsmsConfig {
    /// The heartbeat interval given to accepted stations, in seconds.
    pub heartbeat_interval_s: u32,
    /// The interval after which a Pending or Rejected station boots again, in seconds.
    pub boot_retry_interval_s: u32,
    /// How boots of stations registered by connecting (unknown stations, when allowed) are
    /// answered.
    pub unknown_station_policy: RegistrationStatus,
    /// The most bytes of a DataTransfer's data that are stored; more is cut.
    pub max_vendor_data: usize,
}

impl Default for CsmsConfig {
    fn default() -> CsmsConfig {
        CsmsConfig {
            heartbeat_interval_s: 300,
            boot_retry_interval_s: 30,
            unknown_station_policy: RegistrationStatus::Accepted,
            max_vendor_data: 16 * 1024,
        }
    }
}

/// A failure of the domain: only storage can fail; the rules always have an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the service remembers about one connected station, owned by its session (so no lock is
/// needed: a station's messages are handled one at a time).
#[derive(Debug)]
pub struct StationContext {
    /// The station.
    pub id: StationId,
    /// The answer to its last boot; if it never booted here, the answer a boot would get
    /// when that is Pending or Rejected, else `None`.
    pub registration: Option<RegistrationStatus>,
    /// Who gives its transactions their ids.
    ids: TransactionIds,
    /// Its open transactions as last written, loaded on first use.
    open: HashMap<String, StoredTransaction>,
    /// Digests of its meter values recently recorded, per EVSE.
    recent: HashMap<u32, VecDeque<u64>>,
}

impl StationContext {
    /// Whether the station may send requests other than boot: it was not told Pending or
    /// Rejected at its last boot (1.6 OCPP-J errata §3.8; 2.0.1 B02.FR.09, B03.FR.07). A station
    /// that never booted here is let through if a boot would be accepted: stations do not boot
    /// again on a reconnect, and one moved from another CSMS would otherwise be locked out; one
    /// whose boot would be Pending or Rejected is held as if it had booted.
    pub fn may_send(&self) -> bool {
        matches!(self.registration, None | Some(RegistrationStatus::Accepted))
    }
}

/// A 1.6 StartTransaction: the CSMS assigns the transaction id.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    /// The connector.
    pub connector_id: u32,
    /// The token that started it.
    pub id_token: IdToken,
    /// The register at the start (Wh).
    pub meter_start_wh: f64,
    /// When it started.
    pub timestamp: Time,
    /// The reservation it used.
    pub reservation_id: Option<i64>,
}

/// The answer to a [`StartRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    /// The number assigned.
    pub transaction_number: i64,
    /// What the token is allowed.
    pub authorization: Authorization,
}

/// What a token is presented for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use<'a> {
    /// An Authorize request: start or stop, the station does not say.
    Request,
    /// To start (or authorize) the transaction named, if it is known yet.
    Start(Option<&'a str>),
    /// To stop a transaction.
    Stop,
}

/// How many recent meter value sets per EVSE are remembered to recognise retries.
const RECENT_METER_VALUES: usize = 4;

/// The CSMS service.
pub struct Csms {
    store: Arc<dyn Store>,
    events: EventBus,
    config: CsmsConfig,
    next_number: AtomicI64,
    /// The recent meter value digests of disconnected stations, handed back when they
    /// reconnect: a station that did not get an answer sends the values again, maybe on a new
    /// connection, and they are recorded once.
    recent_meter_values: Mutex<HashMap<StationId, HashMap<u32, VecDeque<u64>>>>,
}

impl Csms {
    /// The service over a store; reads the last transaction number assigned.
    pub async fn new(
        store: Arc<dyn Store>,
        events: EventBus,
        config: CsmsConfig,
    ) -> Result<Csms, DomainError> {
        let last = store.max_csms_number().await?;
        Ok(Csms {
            store,
            events,
            config,
            next_number: AtomicI64::new(last + 1),
            recent_meter_values: Mutex::new(HashMap::new()),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The event stream.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// The settings.
    pub fn config(&self) -> &CsmsConfig {
        &self.config
    }

    /// A station connected (after authentication). Registers it if it is unknown (the gateway
    /// lets unknown stations in only when the operator allowed it).
    pub async fn connected(
        &self,
        id: StationId,
        protocol: &str,
        ids: TransactionIds,
    ) -> Result<StationContext, DomainError> {
        let now = Utc::now();
        let known = self.store.station(&id).await?;
        let mut writes = Vec::with_capacity(2);
        if known.is_none() {
            writes.push(Write::PutStation {
                id: id.to_string(),
                password_hash: None,
                boot_policy: self.config.unknown_station_policy,
                self_registered: true,
                at: now,
            });
        }
        writes.push(Write::StationConnected {
            id: id.to_string(),
            protocol: protocol.to_string(),
            at: now,
        });
        self.store.commit(writes).await?;
        self.events.publish(|| Event::StationConnected {
            station_id: id.to_string(),
            protocol: protocol.to_string(),
        });
        let recent = self
            .recent_meter_values
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&id))
            .unwrap_or_default();
        // A station that has not booted here is held to the answer its boot would get
        // (B02.FR.09, B03.FR.07 apply to a station that skips its BootNotification too).
        let policy = known
            .as_ref()
            .map_or(self.config.unknown_station_policy, |s| s.boot_policy);
        let registration = known.and_then(|s| s.registration).or(match policy {
            RegistrationStatus::Accepted => None,
            gate => Some(gate),
        });
        Ok(StationContext {
            id,
            registration,
            ids,
            open: HashMap::new(),
            recent,
        })
    }

    /// A station's connection ended.
    pub fn disconnected(&self, st: &mut StationContext, reason: &str) {
        let recent = std::mem::take(&mut st.recent);
        if !recent.is_empty()
            && let Ok(mut m) = self.recent_meter_values.lock()
        {
            m.insert(st.id.clone(), recent);
        }
        self.store.append(vec![Write::StationSeen {
            id: st.id.to_string(),
            at: Utc::now(),
        }]);
        self.events.publish(|| Event::StationDisconnected {
            station_id: st.id.to_string(),
            reason: reason.to_string(),
        });
    }

    /// B01–B03: a boot. The station's boot policy decides the answer.
    pub async fn boot(
        &self,
        st: &mut StationContext,
        info: BootInfo,
    ) -> Result<BootDecision, DomainError> {
        let now = Utc::now();
        let policy = self
            .store
            .station(&st.id)
            .await?
            .map_or(self.config.unknown_station_policy, |s| s.boot_policy);
        let decision = decide_boot(
            policy,
            self.config.heartbeat_interval_s,
            self.config.boot_retry_interval_s,
            now,
        );
        self.store
            .commit(vec![Write::Boot {
                id: st.id.to_string(),
                info: Box::new(info),
                registration: decision.status,
                at: now,
            }])
            .await?;
        st.registration = Some(decision.status);
        self.events.publish(|| Event::Boot {
            station_id: st.id.to_string(),
            status: decision.status,
        });
        Ok(decision)
    }

    /// G01: a connector status.
    pub async fn status(
        &self,
        st: &StationContext,
        mut report: StatusReport,
    ) -> Result<(), DomainError> {
        if let Err(received) = crate::availability::ordering_time(report.timestamp, Utc::now()) {
            tracing::warn!(
                station_id = %st.id,
                reported = %report.timestamp,
                "implausible status timestamp; ordering by the time it was received"
            );
            report.timestamp = received;
        }
        let (evse_id, connector_id, status) = (report.evse_id, report.connector_id, report.status);
        self.store
            .commit(vec![Write::ConnectorStatus {
                station_id: st.id.to_string(),
                report: Box::new(report),
            }])
            .await?;
        self.events.publish(|| Event::StatusChanged {
            station_id: st.id.to_string(),
            evse_id,
            connector_id,
            status,
        });
        Ok(())
    }

    /// C01: what a token is allowed, asked by station `st` (an Authorize request). A
    /// `NoAuthorization` token (2.0.1: free charging, sent with an empty value and no
    /// Authorize) is accepted without a lookup. A token in a transaction at another station is
    /// `ConcurrentTx` unless it (or its group) may be used concurrently; one in a transaction at
    /// this station is not, as the driver may be presenting it to stop that transaction.
    pub async fn authorize(
        &self,
        st: &StationContext,
        token: &IdToken,
    ) -> Result<Authorization, DomainError> {
        self.authorize_use(st, token, Use::Request).await
    }

    /// What a token is allowed for a use.
    async fn authorize_use(
        &self,
        st: &StationContext,
        token: &IdToken,
        purpose: Use<'_>,
    ) -> Result<Authorization, DomainError> {
        if token.kind.as_deref() == Some(NO_AUTHORIZATION) {
            return Ok(Authorization {
                status: AuthorizationStatus::Accepted,
                group_id_token: None,
                expiry_date: None,
            });
        }
        let record = self
            .store
            .id_token(&token.value, token.kind.as_deref())
            .await?;
        let mut answer = authorize(record.as_ref(), Utc::now());
        let Some(r) = record.filter(|r| !r.concurrent_use) else {
            return Ok(answer);
        };
        if answer.status != AuthorizationStatus::Accepted || purpose == Use::Stop {
            return Ok(answer);
        }
        // C01/C05 (1.6 §4.2 idTagInfo ConcurrentTx): already in another transaction.
        let open = self.store.open_transactions_of(&token.value).await?;
        let elsewhere = open.iter().any(|(s, t)| match purpose {
            Use::Request => s.as_str() != &*st.id,
            Use::Start(id) => s.as_str() != &*st.id || Some(t.as_str()) != id,
            Use::Stop => false,
        });
        if elsewhere {
            let group_allows = match &r.group_id_token {
                Some(g) => self
                    .store
                    .id_token(g, None)
                    .await?
                    .is_some_and(|g| g.concurrent_use),
                None => false,
            };
            if !group_allows {
                tracing::info!(station_id = %st.id, id_token = %token.value, "the token is already in a transaction elsewhere: ConcurrentTx");
                answer.status = AuthorizationStatus::ConcurrentTx;
            }
        }
        Ok(answer)
    }

    /// The open transaction `id` of this station, from the context or the store.
    async fn load(
        &self,
        st: &mut StationContext,
        id: &str,
    ) -> Result<Option<StoredTransaction>, DomainError> {
        if let Some(t) = st.open.remove(id) {
            return Ok(Some(t));
        }
        Ok(self.store.transaction(&st.id, id).await?)
    }

    /// Folds an event into its transaction and commits the result.
    async fn record_event(
        &self,
        st: &mut StationContext,
        ev: &TransactionEvent,
        number: Option<i64>,
    ) -> Result<Option<Transaction>, DomainError> {
        // A number the CSMS has just given is new: nothing to read.
        let previous = match number {
            Some(_) => None,
            None => self.load(st, &ev.transaction_id).await?,
        };
        let (csms_assigned, orphan, based_on) = match &previous {
            Some(p) => (p.csms_assigned || number.is_some(), p.orphan, p.revision),
            None => (
                number.is_some(),
                number.is_none() && st.ids == TransactionIds::Csms,
                0,
            ),
        };
        if orphan && previous.is_none() {
            tracing::warn!(
                station_id = %st.id,
                transaction_id = %ev.transaction_id,
                "a message names a transaction id never given to this station; kept as an orphan"
            );
        }
        let (tx, applied) = apply(previous.map(|p| p.tx), &st.id, ev);
        let stored = |tx: Transaction, revision| StoredTransaction {
            tx,
            csms_assigned,
            orphan,
            revision,
        };
        if applied.duplicate {
            st.open
                .insert(tx.transaction_id.clone(), stored(tx, based_on));
            return Ok(None);
        }
        let now = Utc::now();
        let mut writes = Vec::with_capacity(3);
        writes.push(Write::PutTransaction {
            tx: Box::new(tx.clone()),
            csms_number: number.or_else(|| {
                csms_assigned
                    .then(|| tx.transaction_id.parse().ok())
                    .flatten()
            }),
            orphan,
            based_on,
            at: now,
        });
        writes.push(Write::TransactionEvent {
            station_id: st.id.to_string(),
            event: Box::new(ev.without_meter_values()),
            received_at: now,
        });
        if !ev.meter_values.is_empty() {
            writes.push(Write::MeterValues {
                station_id: st.id.to_string(),
                evse_id: ev.evse_id.or(tx.evse_id()).unwrap_or(0),
                transaction_id: Some(ev.transaction_id.clone()),
                values: ev.meter_values.clone(),
                received_at: now,
            });
        }
        // K: a TxProfile ends with its transaction (1.6 §3.13.1; the station deletes it).
        if ev.kind == EventKind::Ended
            && let Some(evse) = ev.evse_id.or(tx.evse_id()).filter(|e| *e > 0)
        {
            writes.push(Write::ClearChargingProfiles {
                station_id: st.id.to_string(),
                criteria: crate::store::ProfileCriteria {
                    evse_id: Some(evse),
                    purpose: Some(crate::commands::ChargingProfilePurpose::Tx),
                    ..Default::default()
                },
            });
        }
        if let Err(e) = self.store.commit(writes).await {
            // Not committed: keep nothing of it, the station will send it again.
            return Err(e.into());
        }
        self.events.publish(|| Event::Transaction {
            station_id: st.id.to_string(),
            transaction_id: tx.transaction_id.clone(),
            event: ev.kind.as_str().to_string(),
            energy_wh: tx.energy_wh(),
            evse_id: ev.evse_id.or(tx.evse_id()),
            started_at: tx.started_at(),
            drawing: ev.meter_values.iter().rev().find_map(|mv| {
                Some(crate::events::Drawing {
                    at: mv.timestamp,
                    current_a: crate::site_load::measured_currents(mv)?,
                })
            }),
        });
        if tx.stopped_at().is_none() {
            st.open
                .insert(tx.transaction_id.clone(), stored(tx.clone(), based_on + 1));
        }
        Ok(Some(tx))
    }

    /// E (1.6 StartTransaction): assigns a transaction id and records the start. The
    /// transaction exists whatever the token's status (the station already started it); the
    /// status tells the station whether to go on. A start sent again because its answer was lost
    /// gets the same id.
    pub async fn start_transaction(
        &self,
        st: &mut StationContext,
        req: StartRequest,
    ) -> Result<Started, DomainError> {
        let existing = self
            .store
            .find_start(StartKey {
                station_id: st.id.to_string(),
                connector_id: req.connector_id,
                id_token: req.id_token.value.clone(),
                started_at: req.timestamp,
                meter_start_wh: req.meter_start_wh,
            })
            .await?;
        let authorization = self
            .authorize_use(st, &req.id_token, Use::Start(existing.as_deref()))
            .await?;
        if let Some(n) = existing.and_then(|e| e.parse::<i64>().ok()) {
            return Ok(Started {
                transaction_number: n,
                authorization,
            });
        }
        // A number this station already used for a phantom transaction (an orphan) is not
        // given to it: the orphan is never merged into a real transaction.
        let number = loop {
            let n = self.next_number.fetch_add(1, Ordering::Relaxed);
            if self
                .store
                .transaction(&st.id, &n.to_string())
                .await?
                .is_none()
            {
                break n;
            }
            tracing::info!(station_id = %st.id, number = n, "skipping a transaction number the station used for an orphan");
        };
        let ev = TransactionEvent {
            evse_id: Some(req.connector_id),
            connector_id: Some(req.connector_id),
            id_token: Some(req.id_token),
            meter_start_wh: Some(req.meter_start_wh),
            reservation_id: req.reservation_id,
            ..TransactionEvent::new(EventKind::Started, number.to_string(), req.timestamp)
        };
        self.record_event(st, &ev, Some(number)).await?;
        Ok(Started {
            transaction_number: number,
            authorization,
        })
    }

    /// E (2.0.1 TransactionEvent; 1.6 StopTransaction and transaction MeterValues are mapped to
    /// it): folds the event into its transaction. Answers with the token's authorization when
    /// the event carries one (2.0.1 E01, C: idTokenInfo; 1.6 StopTransaction idTagInfo). An
    /// event already seen is answered again and changes nothing.
    pub async fn transaction_event(
        &self,
        st: &mut StationContext,
        ev: TransactionEvent,
    ) -> Result<Option<Authorization>, DomainError> {
        let authorization = match &ev.id_token {
            Some(t) => {
                let stopping =
                    ev.kind == EventKind::Ended || ev.trigger.as_deref() == Some("StopAuthorized");
                let purpose = if stopping {
                    Use::Stop
                } else {
                    Use::Start(Some(&ev.transaction_id))
                };
                Some(self.authorize_use(st, t, purpose).await?)
            }
            None => None,
        };
        // 1.6 stations that never learnt their transaction id send -1 (OCPP-J 1.6 errata
        // §3.18): keep the event and its meter values, but there is no transaction to fold into.
        if ev.transaction_id == "-1" {
            let now = Utc::now();
            let mut writes = vec![Write::TransactionEvent {
                station_id: st.id.to_string(),
                event: Box::new(ev.clone()),
                received_at: now,
            }];
            if !ev.meter_values.is_empty() {
                writes.push(Write::MeterValues {
                    station_id: st.id.to_string(),
                    evse_id: ev.evse_id.unwrap_or(0),
                    transaction_id: None,
                    values: ev.meter_values.clone(),
                    received_at: now,
                });
            }
            self.store.commit(writes).await?;
            return Ok(authorization);
        }
        self.record_event(st, &ev, None).await?;
        Ok(authorization)
    }

    /// J: meter values, outside a transaction or (1.6) tagged with one. The same values sent
    /// again (the station did not get the answer) are recorded once.
    pub async fn meter_values(
        &self,
        st: &mut StationContext,
        evse_id: u32,
        transaction_id: Option<String>,
        values: Vec<MeterValue>,
    ) -> Result<(), DomainError> {
        let now = Utc::now();
        let samples = values.iter().map(|v| v.samples.len()).sum();
        let fingerprint = crate::metering::digest(&values);
        if st
            .recent
            .get(&evse_id)
            .is_some_and(|r| r.contains(&fingerprint))
        {
            return Ok(());
        }
        // Readings of a known transaction also move its register: they go in as an event. A
        // transaction id the CSMS never gave a station whose ids it gives makes an orphan.
        let known = match &transaction_id {
            Some(id) if id != "-1" => match self.load(st, id).await? {
                Some(t) => Some((id.clone(), Some(t))),
                None if st.ids == TransactionIds::Csms => Some((id.clone(), None)),
                None => None,
            },
            _ => None,
        };
        match known {
            Some((id, stored)) => {
                if let Some(t) = stored {
                    st.open.insert(id.clone(), t);
                }
                let at = values.first().map_or(now, |v| v.timestamp);
                let ev = TransactionEvent {
                    trigger: Some("MeterValuePeriodic".into()),
                    evse_id: Some(evse_id),
                    meter_values: values,
                    ..TransactionEvent::new(EventKind::Updated, id, at)
                };
                self.record_event(st, &ev, None).await?;
            }
            None => {
                self.store
                    .commit(vec![Write::MeterValues {
                        station_id: st.id.to_string(),
                        evse_id,
                        transaction_id,
                        values,
                        received_at: now,
                    }])
                    .await?;
            }
        }
        let recent = st.recent.entry(evse_id).or_default();
        if recent.len() == RECENT_METER_VALUES {
            recent.pop_front();
        }
        recent.push_back(fingerprint);
        self.events.publish(|| Event::MeterValues {
            station_id: st.id.to_string(),
            evse_id,
            samples,
        });
        Ok(())
    }

    /// K15 (2.0.1 NotifyEVChargingNeeds): what an ISO 15118 car at `evse_id` needs. When a
    /// transaction goes on there the answer is Accepted (`true`) and load management sends it
    /// a TxProfile (OCTT reusable state ISO15118SmartCharging); otherwise the station is told
    /// Rejected and charges by its own schedule.
    pub async fn ev_charging_needs(
        &self,
        st: &StationContext,
        evse_id: u32,
        wanted: crate::needs::Wanted,
    ) -> Result<bool, DomainError> {
        let told = crate::needs::tell(
            self.store.as_ref(),
            &self.events,
            &st.id,
            crate::needs::For::Evse(evse_id),
            wanted,
            crate::needs::CAR,
        )
        .await?;
        Ok(told.is_some())
    }

    /// K09: a station's report of its charging profiles (2.0.1 ReportChargingProfiles): the
    /// notice, and each profile as one the station holds, set by `source` (`CSO` is a CSMS,
    /// recorded as [`crate::smart_charging::CSMS`]), in one commit.
    pub async fn charging_profiles_reported(
        &self,
        st: &StationContext,
        notice: Notice,
        source: &str,
        profiles: Vec<crate::commands::Installed>,
    ) -> Result<(), DomainError> {
        let now = Utc::now();
        let source = if source == "CSO" {
            crate::smart_charging::CSMS
        } else {
            source
        };
        let writes = profiles
            .into_iter()
            .map(|p| Write::PutChargingProfile {
                station_id: st.id.to_string(),
                installed: Box::new(p),
                source: source.to_string(),
                at: now,
            })
            .collect();
        self.notice_with(st, notice, writes).await
    }

    /// Records a notice (firmware or log progress, a security event, a report...).
    pub async fn notice(&self, st: &StationContext, notice: Notice) -> Result<(), DomainError> {
        self.report(st, notice, Vec::new()).await
    }

    /// B07/B08: records a part of a device model report, and the variables it reports, in one
    /// commit.
    pub async fn report(
        &self,
        st: &StationContext,
        notice: Notice,
        variables: Vec<crate::device_model::DeviceVariable>,
    ) -> Result<(), DomainError> {
        let mut writes = Vec::new();
        if !variables.is_empty() {
            writes.push(Write::PutVariables {
                station_id: st.id.to_string(),
                variables,
                at: Utc::now(),
            });
        }
        self.notice_with(st, notice, writes).await
    }

    /// Records a notice and what it makes known, in one commit, and tells the event stream.
    async fn notice_with(
        &self,
        st: &StationContext,
        notice: Notice,
        more: Vec<Write>,
    ) -> Result<(), DomainError> {
        let (kind, status, request_id) = (notice.kind, notice.status.clone(), notice.request_id);
        let now = Utc::now();
        let mut writes = vec![Write::Notice {
            station_id: st.id.to_string(),
            notice: Box::new(notice),
            received_at: now,
        }];
        writes.extend(more);
        self.store.commit(writes).await?;
        let station_id = st.id.to_string();
        self.events.publish(|| match kind {
            NoticeKind::FirmwareStatus | NoticeKind::PublishFirmwareStatus => {
                Event::FirmwareStatus {
                    station_id,
                    status,
                    request_id,
                }
            }
            NoticeKind::LogStatus => Event::LogStatus {
                station_id,
                status,
                request_id,
            },
            NoticeKind::SecurityEvent => Event::SecurityEvent {
                station_id,
                event_type: status,
            },
            _ => Event::Notice {
                station_id,
                kind: kind.as_str().to_string(),
                status,
            },
        });
        Ok(())
    }

    /// P01/P02: vendor data from a station. Recorded, its data cut to the configured size;
    /// no vendor extension is known, so the answer is always `UnknownVendorId`.
    pub async fn data_transfer(
        &self,
        st: &StationContext,
        vendor_id: &str,
        message_id: Option<&str>,
        data: Option<serde_json::Value>,
    ) -> Result<DataTransferAnswer, DomainError> {
        let vendor_data = crate::notices::VendorData::capped(
            vendor_id,
            message_id,
            data,
            self.config.max_vendor_data,
        );
        if let Some(size) = vendor_data.truncated_from {
            tracing::warn!(station = %st.id, vendor_id, size, limit = self.config.max_vendor_data, "DataTransfer data cut to the limit");
            arus_telemetry::metrics().truncated("vendor_data");
        }
        self.notice(
            st,
            Notice {
                kind: NoticeKind::DataTransfer,
                at: Utc::now(),
                request_id: None,
                status: Some(vendor_id.to_string()),
                details: crate::notices::details(&vendor_data),
            },
        )
        .await?;
        Ok(DataTransferAnswer::UnknownVendorId)
    }
}
