//! Webhooks: the event stream delivered to operators' HTTP endpoints.
//!
//! A [`Subscription`] names a URL, the event types and stations it wants, and a secret. For
//! each matching event a [`Delivery`] is recorded in the store, then POSTed with the event as
//! its JSON body and an `Arus-Signature` header (`t=UNIX,v1=HEX`, the HMAC-SHA256 of
//! `"{t}.{body}"` under the secret, see [`sign`]). A delivery that does not get a 2xx answer is
//! retried with exponential backoff ([`backoff`]); after the last attempt it is kept as dead (the
//! dead-letter record) until an operator retries it. Targets on internal networks are refused
//! unless the operator allowed them, and redirects are not followed ([`target`]). Receivers
//! check the signature and its time with [`verify`].
//!
//! # Invariants
//!
//! - A delivery is in the store before its first attempt, and its body never changes, so a
//!   restart loses no delivery that was recorded and a retry sends the same bytes (receivers
//!   deduplicate by `Arus-Delivery-Id`). Events published in the moment between their commit
//!   and their delivery's commit are lost if the process dies then.
//! - A delivery is attempted by one task at a time.
//! - Deliveries are recorded in batches: one commit for all events that arrived meanwhile.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use arus_domain::events::{EventBus, Stamped};
use arus_domain::store::{RecordKind, RecordQuery, Store, StoreError, StoredRecord, Write};
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{Notify, Semaphore, broadcast};

pub mod target;
pub use target::IpNet;

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Its id.
    pub id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The HMAC key of the signatures.
    pub secret: String,
    /// Only these event types (all when empty).
    #[serde(default)]
    pub types: Vec<String>,
    /// Only these stations' events (all when empty).
    #[serde(default)]
    pub station_ids: Vec<String>,
    /// A note for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When it was made.
    pub created_at: chrono::DateTime<Utc>,
    /// When it was deleted, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<chrono::DateTime<Utc>>,
}

impl Subscription {
    /// Whether the subscription wants this event.
    pub fn wants(&self, e: &Stamped) -> bool {
        self.deleted_at.is_none()
            && (self.types.is_empty() || self.types.iter().any(|t| t == e.event.kind()))
            && (self.station_ids.is_empty()
                || self.station_ids.iter().any(|s| s == e.event.station_id()))
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed (or its subscription was deleted): kept until retried.
    Dead,
}

impl DeliveryStatus {
    /// The name used in the store and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }
}

/// A delivery of one event to one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Its id (sent as `Arus-Delivery-Id`).
    pub id: String,
    /// The subscription.
    pub subscription_id: String,
    /// The event's id.
    pub event_id: u64,
    /// The event's type.
    pub event_type: String,
    /// The body sent: the event as JSON.
    pub body: String,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_at: chrono::DateTime<Utc>,
    /// The HTTP status of the last attempt, if it got one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// What went wrong last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was recorded.
    pub created_at: chrono::DateTime<Utc>,
    /// When the receiver took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<chrono::DateTime<Utc>>,
}

/// Settings of the deliveries.
#[derive(Debug, Clone)]
pub struct Config {
    /// The delay before the first retry; each retry doubles it.
    pub base_delay: Duration,
    /// The longest delay between attempts.
    pub max_delay: Duration,
    /// Attempts before a delivery is dead.
    pub max_attempts: u32,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// Internal networks (loopback, private, link-local...) deliveries may go to; every other
    /// internal address is refused ([`target`]).
    pub allowed_networks: Vec<IpNet>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(3600),
            max_attempts: 10,
            timeout: Duration::from_secs(10),
            concurrency: 16,
            allowed_networks: Vec::new(),
        }
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The subscription is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The subscription's `url` is not a URL.
    #[error("`url` is not a URL")]
    Url(#[source] url::ParseError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built")]
    Client(#[source] reqwest::Error),
    /// The system's random source failed while generating a secret.
    #[error("no random secret could be generated")]
    Random(#[source] getrandom::Error),
    /// A subscription or delivery could not be encoded for the store.
    #[error("a webhook record could not be encoded")]
    Encode(#[source] serde_json::Error),
}

/// The signature header of `body` sent at `t` (Unix seconds): `t=T,v1=HEX`, where HEX is the
/// HMAC-SHA256 of `"{t}.{body}"` under `secret`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body)))
}

fn mac(secret: &str, t: i64, body: &str) -> Vec<u8> {
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return Vec::new();
    };
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// How far from the receiver's clock a signature's time may be: a delivery captured and sent
/// again later is refused once it is older than this.
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);

/// Whether `header` is a valid signature of `body` under `secret`, made at most `tolerance`
/// from `now` (Unix seconds): what a receiver checks, so that a delivery recorded by someone
/// on the way cannot be replayed later.
pub fn verify(secret: &str, header: &str, body: &str, now: i64, tolerance: Duration) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let age = now.abs_diff(t);
    if age > tolerance.as_secs() {
        return false;
    }
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body.as_bytes());
    m.verify_slice(&v1).is_ok()
}

/// The delay after the `attempt`th failed attempt (1-based): `base` doubled each time, at most
/// `max`.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// The webhook service.
pub struct Webhooks {
    store: Arc<dyn Store>,
    bus: EventBus,
    config: Config,
    client: reqwest::Client,
    subscriptions: RwLock<Vec<Subscription>>,
    in_flight: Mutex<HashSet<String>>,
    wake: Notify,
    /// Wakes the recorder when subscriptions change.
    changed: Notify,
    /// Where the sleeping recorder starts once a first subscription is made: after this event
    /// (`Some(None)`: from the first event), so no event published meanwhile is missed.
    start_after: Mutex<Option<Option<u64>>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Webhooks {
    /// The service, with the stored subscriptions.
    pub async fn new(
        store: Arc<dyn Store>,
        bus: EventBus,
        config: Config,
    ) -> Result<Arc<Webhooks>, Error> {
        // Another part may have installed the process's provider already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            // A receiver must not send a delivery on to where the guard would refuse it.
            .redirect(reqwest::redirect::Policy::none())
            // Names are resolved only by the guard; a proxy would resolve them itself.
            .no_proxy()
            .dns_resolver(target::GuardedResolver {
                allowed: Arc::new(config.allowed_networks.clone()),
            })
            .user_agent(concat!("arus-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::Client)?;
        let w = Webhooks {
            store,
            bus,
            config,
            client,
            subscriptions: RwLock::new(Vec::new()),
            in_flight: Mutex::default(),
            wake: Notify::new(),
            changed: Notify::new(),
            start_after: Mutex::new(None),
            next_id: std::sync::atomic::AtomicU64::new(Utc::now().timestamp_subsec_nanos().into()),
        };
        w.reload().await?;
        Ok(Arc::new(w))
    }

    fn new_id(&self) -> String {
        let n = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            & 0xffff;
        format!("{:013x}{n:04x}", Utc::now().timestamp_micros())
    }

    async fn reload(&self) -> Result<(), Error> {
        let rows = self
            .store
            .records(RecordQuery::of(RecordKind::Webhook, 10_000))
            .await?;
        let subs: Vec<Subscription> = rows
            .iter()
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect();
        if let Ok(mut s) = self.subscriptions.write() {
            *s = subs;
        }
        self.changed.notify_one();
        Ok(())
    }

    /// Every subscription, deleted ones included, newest first.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.subscriptions
            .read()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Makes a subscription; without a secret, one is generated.
    pub async fn subscribe(
        &self,
        url: String,
        secret: Option<String>,
        types: Vec<String>,
        station_ids: Vec<String>,
        description: Option<String>,
    ) -> Result<Subscription, Error> {
        // The recorder sleeps while no subscription is active: it will start after this.
        let idle = !self.subscriptions().iter().any(|s| s.deleted_at.is_none());
        if idle && let Ok(mut s) = self.start_after.lock() {
            *s = Some(self.bus.last_id());
        }
        let parsed = reqwest::Url::parse(&url).map_err(Error::Url)?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(Error::Invalid("`url` must be an http or https URL".into()));
        }
        self.check_target(&parsed).await?;
        let secret = match secret {
            Some(s) if s.len() >= 16 && s.len() <= 256 => s,
            Some(_) => return Err(Error::Invalid("`secret` must have 16 to 256 bytes".into())),
            None => {
                let mut b = [0u8; 32];
                getrandom::fill(&mut b).map_err(Error::Random)?;
                hex::encode(b)
            }
        };
        let s = Subscription {
            id: self.new_id(),
            url,
            secret,
            types,
            station_ids,
            description,
            created_at: Utc::now(),
            deleted_at: None,
        };
        self.save_subscription(&s).await?;
        self.reload().await?;
        Ok(s)
    }

    /// Refuses a target whose address is internal and not allowed: a literal address, or a
    /// name that resolves only to such addresses now (a name that cannot be resolved now is
    /// accepted; every delivery is checked again).
    async fn check_target(&self, url: &reqwest::Url) -> Result<(), Error> {
        let allowed = &self.config.allowed_networks;
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<std::net::IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![ip.into()],
            Some(url::Host::Ipv6(ip)) => vec![ip.into()],
            Some(url::Host::Domain(name)) => match tokio::net::lookup_host((name, port)).await {
                Ok(found) => found.map(|a| a.ip()).collect(),
                Err(_) => Vec::new(),
            },
            None => Vec::new(),
        };
        let host = url.host_str().unwrap_or_default();
        match addrs.first() {
            Some(&ip) if !addrs.iter().any(|&a| target::permitted(a, allowed)) => {
                Err(Error::Invalid(target::refusal(host, ip)))
            }
            _ => Ok(()),
        }
    }

    async fn save_subscription(&self, s: &Subscription) -> Result<(), Error> {
        let body = serde_json::to_string(s).map_err(Error::Encode)?;
        self.store
            .commit(vec![Write::PutRecord(Box::new(StoredRecord {
                kind: RecordKind::Webhook,
                id: s.id.clone(),
                seq: 0,
                station_id: None,
                tag: None,
                status: Some(
                    if s.deleted_at.is_some() {
                        "deleted"
                    } else {
                        "active"
                    }
                    .into(),
                ),
                at: s.created_at,
                body,
            }))])
            .await?;
        Ok(())
    }

    /// Deletes a subscription: no new deliveries; its pending ones die at their next turn.
    pub async fn unsubscribe(&self, id: &str) -> Result<Option<Subscription>, Error> {
        let Some(mut s) = self.subscriptions().into_iter().find(|s| s.id == id) else {
            return Ok(None);
        };
        if s.deleted_at.is_none() {
            s.deleted_at = Some(Utc::now());
            self.save_subscription(&s).await?;
            self.reload().await?;
        }
        Ok(Some(s))
    }

    /// A subscription's deliveries, newest first, with their place for paging.
    pub async fn deliveries(
        &self,
        subscription_id: &str,
        status: Option<DeliveryStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, Delivery)>, Error> {
        let mut q = RecordQuery::of(RecordKind::Delivery, limit);
        q.tag = Some(subscription_id.to_string());
        q.status = status.map(|s| s.as_str().to_string());
        q.before = before;
        Ok(self
            .store
            .records(q)
            .await?
            .iter()
            .filter_map(|r| serde_json::from_str(&r.body).ok().map(|d| (r.seq, d)))
            .collect())
    }

    /// Makes a dead delivery of a subscription pending again, due now.
    pub async fn retry(
        &self,
        subscription_id: &str,
        delivery_id: &str,
    ) -> Result<Option<Delivery>, Error> {
        let Some(r) = self.store.record(RecordKind::Delivery, delivery_id).await? else {
            return Ok(None);
        };
        let Ok(mut d) = serde_json::from_str::<Delivery>(&r.body) else {
            return Ok(None);
        };
        if d.subscription_id != subscription_id {
            return Ok(None);
        }
        if d.status == DeliveryStatus::Dead {
            d.status = DeliveryStatus::Pending;
            d.attempts = 0;
            d.next_at = Utc::now();
            self.store.commit(vec![delivery_write(&d)?]).await?;
            self.wake.notify_one();
        }
        Ok(Some(d))
    }

    /// Runs the service: records deliveries for the events that arrive, and attempts the due
    /// ones.
    pub async fn run(self: Arc<Self>) {
        tokio::spawn(self.clone().send_loop());
        self.record_loop().await;
    }

    async fn record_loop(&self) {
        loop {
            // Without a subscription there is nothing to record: sleep until one is made
            // instead of waking for every event.
            while !self.subscriptions().iter().any(|s| s.deleted_at.is_none()) {
                self.changed.notified().await;
            }
            if !self.record_while_subscribed().await {
                return;
            }
        }
    }

    /// Records deliveries until no subscription is left (true), or the bus closes (false).
    async fn record_while_subscribed(&self) -> bool {
        let mut rx = self.bus.subscribe();
        let start = self.start_after.lock().ok().and_then(|mut s| s.take());
        let mut last = match start {
            Some(after) => after,
            None => self.bus.last_id(),
        };
        loop {
            if !self.subscriptions().iter().any(|s| s.deleted_at.is_none()) {
                return true;
            }
            let (events, missed) = self.bus.since(last, 4096);
            if missed {
                tracing::warn!(
                    "webhooks fell behind the event journal; some events were not delivered"
                );
            }
            if events.is_empty() {
                match rx.recv().await {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return false,
                }
            }
            last = events.last().map(|e| e.id).or(last);
            let subs = self.subscriptions();
            let now = Utc::now();
            let mut writes = Vec::new();
            for e in &events {
                for s in subs.iter().filter(|s| s.wants(e)) {
                    let Ok(body) = serde_json::to_string(e) else {
                        continue;
                    };
                    let d = Delivery {
                        id: self.new_id(),
                        subscription_id: s.id.clone(),
                        event_id: e.id,
                        event_type: e.event.kind().to_string(),
                        body,
                        status: DeliveryStatus::Pending,
                        attempts: 0,
                        next_at: now,
                        last_status: None,
                        last_error: None,
                        created_at: now,
                        delivered_at: None,
                    };
                    match delivery_write(&d) {
                        Ok(w) => writes.push(w),
                        Err(e) => tracing::error!(error = %e, "a delivery could not be encoded"),
                    }
                }
            }
            if writes.is_empty() {
                continue;
            }
            let mut tries = 0u32;
            loop {
                match self.store.commit(writes.clone()).await {
                    Ok(()) => break,
                    Err(e) => {
                        tries += 1;
                        tracing::warn!(error = %e, tries, "recording webhook deliveries failed");
                        tokio::time::sleep(Duration::from_millis(200 * u64::from(tries.min(25))))
                            .await;
                    }
                }
            }
            self.wake.notify_one();
        }
    }

    async fn send_loop(self: Arc<Self>) {
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        loop {
            if let Err(e) = self.attempt_due(&permits).await {
                tracing::warn!(error = %e, "reading webhook deliveries failed");
            }
            // New deliveries wake the sender; retries fall due within the next second.
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Starts the deliveries that are due.
    async fn attempt_due(self: &Arc<Self>, permits: &Arc<Semaphore>) -> Result<(), Error> {
        // Only the due ones (a delivery's `at` is when its next attempt is due), so deliveries
        // waiting out a long backoff never hide the ones behind them.
        let now = Utc::now();
        let mut q = RecordQuery::of(RecordKind::Delivery, 1000);
        q.status = Some(DeliveryStatus::Pending.as_str().to_string());
        q.at_or_before = Some(now);
        q.oldest_first = true;
        let rows = self.store.records(q).await?;
        for r in rows {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let claimed = self
                .in_flight
                .lock()
                .map(|mut f| f.insert(r.id.clone()))
                .unwrap_or(false);
            if !claimed {
                continue;
            }
            // The row may be older than an attempt that finished while this waited for a
            // permit: read it again, and attempt it only if it is still pending and due.
            let current = match self.store.record(RecordKind::Delivery, &r.id).await {
                Ok(Some(row)) => serde_json::from_str::<Delivery>(&row.body).ok(),
                _ => None,
            };
            let Some(d) =
                current.filter(|d| d.status == DeliveryStatus::Pending && d.next_at <= Utc::now())
            else {
                if let Ok(mut f) = self.in_flight.lock() {
                    f.remove(&r.id);
                }
                continue;
            };
            let me = self.clone();
            tokio::spawn(async move {
                let id = d.id.clone();
                me.attempt(d).await;
                drop(permit);
                if let Ok(mut f) = me.in_flight.lock() {
                    f.remove(&id);
                }
            });
        }
        Ok(())
    }

    async fn attempt(&self, mut d: Delivery) {
        let sub = self
            .subscriptions()
            .into_iter()
            .find(|s| s.id == d.subscription_id && s.deleted_at.is_none());
        let now = Utc::now();
        match sub {
            None => {
                d.status = DeliveryStatus::Dead;
                d.last_error = Some("the subscription was deleted".into());
            }
            Some(s) => {
                d.attempts += 1;
                let t = now.timestamp();
                // A literal address does not pass the resolver: checked here, as the allowed
                // networks may have changed since the subscription.
                let literal = reqwest::Url::parse(&s.url)
                    .ok()
                    .and_then(|u| match u.host() {
                        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::from(ip)),
                        Some(url::Host::Ipv6(ip)) => Some(ip.into()),
                        _ => None,
                    });
                if let Some(ip) = literal
                    && !target::permitted(ip, &self.config.allowed_networks)
                {
                    d.last_status = None;
                    d.last_error = Some(target::refusal(&ip.to_string(), ip));
                    d.status = DeliveryStatus::Dead;
                    tracing::warn!(delivery = %d.id, url = %s.url, "a webhook target is on an internal network that is not allowed; the delivery is kept as dead");
                    return self.record_attempt(&d).await;
                }
                let result = self
                    .client
                    .post(&s.url)
                    .header("content-type", "application/json")
                    .header("arus-signature", sign(&s.secret, t, &d.body))
                    .header("arus-delivery-id", &d.id)
                    .header("arus-event-id", d.event_id.to_string())
                    .header("arus-event-type", &d.event_type)
                    .body(d.body.clone())
                    .send()
                    .await;
                match result {
                    Ok(r) if r.status().is_success() => {
                        d.status = DeliveryStatus::Delivered;
                        d.delivered_at = Some(Utc::now());
                        d.last_status = Some(r.status().as_u16());
                        d.last_error = None;
                    }
                    Ok(r) => {
                        d.last_status = Some(r.status().as_u16());
                        d.last_error = Some(format!("the receiver answered {}", r.status()));
                    }
                    Err(e) => {
                        d.last_status = None;
                        d.last_error = Some(e.to_string());
                    }
                }
                if d.status == DeliveryStatus::Pending {
                    if d.attempts >= self.config.max_attempts {
                        d.status = DeliveryStatus::Dead;
                        tracing::warn!(delivery = %d.id, url = %s.url, "a webhook delivery failed every attempt; it is kept as dead");
                    } else {
                        let delay =
                            backoff(d.attempts, self.config.base_delay, self.config.max_delay);
                        d.next_at = Utc::now()
                            + chrono::Duration::from_std(delay)
                                .unwrap_or(chrono::Duration::hours(1));
                    }
                }
            }
        }
        self.record_attempt(&d).await;
    }

    async fn record_attempt(&self, d: &Delivery) {
        let write = match delivery_write(d) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "a delivery could not be encoded");
                return;
            }
        };
        if let Err(e) = self.store.commit(vec![write]).await {
            // It stays pending in the store and is attempted again.
            tracing::warn!(error = %e, delivery = %d.id, "recording a delivery attempt failed");
        }
    }
}

fn delivery_write(d: &Delivery) -> Result<Write, Error> {
    let body = serde_json::to_string(d).map_err(Error::Encode)?;
    Ok(Write::PutRecord(Box::new(StoredRecord {
        kind: RecordKind::Delivery,
        id: d.id.clone(),
        seq: 0,
        station_id: None,
        tag: Some(d.subscription_id.clone()),
        status: Some(d.status.as_str().to_string()),
        // The next attempt's time: the sender asks the store only for due deliveries.
        at: d.next_at,
        body,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn signatures_verify_and_bind_the_body_and_time() {
        let (secret, t, tol) = ("s3cret-s3cret-s3cret", 1_700_000_000, SIGNATURE_TOLERANCE);
        let h = sign(secret, t, r#"{"a":1}"#);
        assert!(h.starts_with("t=1700000000,v1="));
        assert!(verify(secret, &h, r#"{"a":1}"#, t + 10, tol));
        assert!(!verify(secret, &h, r#"{"a":2}"#, t, tol));
        assert!(!verify("another-secret-here", &h, r#"{"a":1}"#, t, tol));
        let moved = h.replace("t=1700000000", "t=1700000001");
        assert!(!verify(secret, &moved, r#"{"a":1}"#, t, tol));
        assert!(!verify(secret, "garbage", r#"{"a":1}"#, t, tol));
        // A delivery replayed later than the tolerance, or stamped far ahead, is refused.
        assert!(verify(secret, &h, r#"{"a":1}"#, t + 300, tol));
        assert!(!verify(secret, &h, r#"{"a":1}"#, t + 301, tol));
        assert!(!verify(secret, &h, r#"{"a":1}"#, t - 301, tol));
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256 of "1.body" under "key", computed with Python's hmac module.
        assert_eq!(
            sign("key", 1, "body"),
            "t=1,v1=91b5374b153842ad05b2c4eab9349b8321b14703165bd3fb8b034dfb8be98ae5"
        );
    }

    proptest! {
        #[test]
        fn backoff_doubles_and_is_bounded(attempt in 1u32..64, base_ms in 1u64..10_000, max_s in 1u64..10_000) {
            let base = Duration::from_millis(base_ms);
            let max = Duration::from_secs(max_s);
            let d = backoff(attempt, base, max);
            prop_assert!(d <= max);
            prop_assert!(d >= base.min(max));
            let next = backoff(attempt + 1, base, max);
            prop_assert!(next >= d);
            prop_assert!(next <= (d * 2).min(max).max(d));
        }
    }
}
