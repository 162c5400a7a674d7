//! The storage port: what the domain asks of a store. `arus-store` implements it for SQLite and
//! PostgreSQL; both pass one shared test suite.
//!
//! Writes are [`Write`] values handed to [`Store::commit`], which resolves only once they are
//! durable. A store commits the writes of many callers together (group commit), so durability
//! costs one disk flush per group, not per message. [`Store::append`] hands over writes that
//! need no acknowledgement (the frame log): they go out with the next commit.
//!
//! Every write is idempotent: replaying one that was already committed changes nothing. Meter
//! values are the exception (they have no key); the domain recognises their retries.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::Time;
use crate::authorization::IdTokenRecord;
use crate::availability::{ConnectorRecord, StatusReport};
use crate::metering::MeterValue;
use crate::notices::Notice;
use crate::provisioning::{BootInfo, RegistrationStatus, StationRecord};
use crate::transactions::{Transaction, TransactionEvent};

/// A boxed future, so that the port can be used as `dyn Store`.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The error a [`StoreError`] came from, shared: a group commit hands one failure to every
/// caller of the group, so the error must be [`Clone`] without copying the driver's error.
pub type ErrorSource = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure.
///
/// Each kind carries a message and, when there is one, the error it came from (the database
/// driver's, the serializer's), kept whole as its [`source`](std::error::Error::source). The
/// text shows the message and the whole chain of sources, so a log line of `%error` needs
/// nothing else. Build one with [`StoreError::unavailable`], [`StoreError::conflict`] or
/// [`StoreError::unavailable_because`].
///
/// Errors are [`Clone`] (the source is shared) and two are equal when they are of the same kind
/// and read the same: sources cannot be compared otherwise.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the work; nothing of it was committed.
    #[error("storage unavailable{}", Explained(.message, .source.as_deref()))]
    Unavailable {
        /// What failed, in words; empty when the source says it all.
        message: std::borrow::Cow<'static, str>,
        /// The error it came from.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The data is inconsistent with what is stored (for example a duplicate key).
    #[error("storage conflict{}", Explained(.message, .source.as_deref()))]
    Conflict {
        /// What failed, in words; empty when the source says it all.
        message: std::borrow::Cow<'static, str>,
        /// The error it came from.
        #[source]
        source: Option<ErrorSource>,
    },
}

impl StoreError {
    /// The database cannot be reached or refused the work, because of `source`.
    pub fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Unavailable {
            message: std::borrow::Cow::Borrowed(""),
            source: Some(std::sync::Arc::new(source)),
        }
    }

    /// The database cannot be reached or refused the work, for a reason with no error behind it
    /// (for example: the writer has stopped).
    pub fn unavailable_because(message: impl Into<std::borrow::Cow<'static, str>>) -> StoreError {
        StoreError::Unavailable {
            message: message.into(),
            source: None,
        }
    }

    /// The data is inconsistent with what is stored, as `source` says.
    pub fn conflict(source: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Conflict {
            message: std::borrow::Cow::Borrowed(""),
            source: Some(std::sync::Arc::new(source)),
        }
    }
}

impl PartialEq for StoreError {
    fn eq(&self, other: &StoreError) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
}

impl Eq for StoreError {}

/// The text after a [`StoreError`]'s kind: `: message`, then `: cause` for each error of the
/// source chain.
struct Explained<'a>(
    &'a str,
    Option<&'a (dyn std::error::Error + Send + Sync + 'static)>,
);

impl std::fmt::Display for Explained<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.0.is_empty() {
            write!(f, ": {}", self.0)?;
        }
        let mut next = self.1.map(|e| e as &(dyn std::error::Error + 'static));
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

/// The direction of a logged frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the station.
    In,
    /// To the station.
    Out,
}

impl Direction {
    /// `in` or `out`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// A logged frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRecord {
    /// When it was sent or received.
    pub at: Time,
    /// In or out.
    pub direction: Direction,
    /// Its text.
    pub text: String,
}

crate::names::named_enum! {
/// The role of an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// May read.
    ReadOnly = "read-only",
    /// May read and operate stations.
    Operator = "operator",
    /// May do anything, including managing tokens.
    Admin = "admin",
}
}

/// An API token as stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// A name for people.
    pub name: String,
    /// The SHA-256 of the token, hex.
    pub hash: String,
    /// What it may do.
    pub role: Role,
    /// When it was made.
    pub created_at: Time,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Time>,
}

/// One change to the stored state.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Registers a station, or updates its password and boot policy.
    PutStation {
        /// Its identity.
        id: String,
        /// The argon2id PHC string of its password, if it has one.
        password_hash: Option<String>,
        /// How its boots are answered.
        boot_policy: RegistrationStatus,
        /// Whether it registered itself by connecting (unknown stations allowed); an operator's
        /// registration clears it. Retention may remove such a station once it is gone.
        self_registered: bool,
        /// When.
        at: Time,
    },
    /// A station connected with a protocol version.
    StationConnected {
        /// The station.
        id: String,
        /// The version, as people write it.
        protocol: String,
        /// When.
        at: Time,
    },
    /// What the operator registered of a station's electrical side.
    StationElectrical {
        /// The station.
        id: String,
        /// The values.
        electrical: crate::provisioning::Electrical,
    },
    /// A station was last heard from at this time.
    StationSeen {
        /// The station.
        id: String,
        /// When.
        at: Time,
    },
    /// A station booted and got an answer.
    Boot {
        /// The station.
        id: String,
        /// What it said.
        info: Box<BootInfo>,
        /// What it was told.
        registration: RegistrationStatus,
        /// When.
        at: Time,
    },
    /// A connector's status.
    ConnectorStatus {
        /// The station.
        station_id: String,
        /// The report.
        report: Box<StatusReport>,
    },
    /// A transaction's whole state, folded from the stored state at revision `based_on` (0
    /// for one not stored before). If the row is still at that revision it is replaced (and
    /// its revision goes up by one); if another write came in between, the store merges the two
    /// folds ([`crate::transactions::Fold::merge`]), so no update is lost.
    PutTransaction {
        /// The transaction.
        tx: Box<Transaction>,
        /// For transactions whose id the CSMS assigned (1.6), the number it assigned.
        csms_number: Option<i64>,
        /// Whether it is an orphan ([`StoredTransaction::orphan`]).
        orphan: bool,
        /// The revision the state was folded from.
        based_on: i64,
        /// When.
        at: Time,
    },
    /// An event of a transaction, kept as history (a repeated one is kept once). The domain
    /// records the event's meter values as [`Write::MeterValues`] and leaves them out here, so
    /// they are stored once.
    TransactionEvent {
        /// The station.
        station_id: String,
        /// The event.
        event: Box<TransactionEvent>,
        /// When it arrived.
        received_at: Time,
    },
    /// Meter values (kept as often as written: the domain recognises retries).
    MeterValues {
        /// The station.
        station_id: String,
        /// The EVSE (0: the station's main meter).
        evse_id: u32,
        /// The transaction they belong to, if any.
        transaction_id: Option<String>,
        /// The values.
        values: Vec<MeterValue>,
        /// When they arrived.
        received_at: Time,
    },
    /// A notice.
    Notice {
        /// The station.
        station_id: String,
        /// The notice.
        notice: Box<Notice>,
        /// When it arrived.
        received_at: Time,
    },
    /// A frame in or out, for the frame log.
    Frame {
        /// The station.
        station_id: String,
        /// In or out.
        direction: Direction,
        /// When.
        at: Time,
        /// The frame's text.
        text: String,
    },
    /// Registers or updates an id token.
    PutIdToken(IdTokenRecord),
    /// Creates an API token.
    PutApiToken(ApiTokenRecord),
    /// Variables of a station's device model, each replacing what was known of it.
    PutVariables {
        /// The station.
        station_id: String,
        /// The variables.
        variables: Vec<crate::device_model::DeviceVariable>,
        /// When they were reported or confirmed.
        at: Time,
    },
    /// Inserts or replaces a record (a command, an audit entry...): see [`StoredRecord`].
    PutRecord(Box<StoredRecord>),
    /// A charging profile a station holds now: it replaces the profile with its id and any on
    /// the same EVSE with the same purpose and stack level (1.6 §3.13.2: the station replaces
    /// those).
    PutChargingProfile {
        /// The station.
        station_id: String,
        /// The profile, where it is.
        installed: Box<crate::commands::Installed>,
        /// Who set it: `CSMS` for Arus, else the source the station reported.
        source: String,
        /// When.
        at: Time,
    },
    /// Charging profiles a station removed: those matching every criterion given; never the
    /// external constraints, which only their source removes.
    ClearChargingProfiles {
        /// The station.
        station_id: String,
        /// The criteria.
        criteria: ProfileCriteria,
    },
}

/// Which charging profiles: every criterion given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileCriteria {
    /// The profile's id.
    pub id: Option<i64>,
    /// The EVSE it is on.
    pub evse_id: Option<u32>,
    /// Its purpose.
    pub purpose: Option<crate::commands::ChargingProfilePurpose>,
    /// Its stack level.
    pub stack_level: Option<u32>,
}

/// A charging profile as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredProfile {
    /// The EVSE (0: the station).
    pub evse_id: u32,
    /// Who set it: `CSMS` for Arus, else the source the station reported.
    pub source: String,
    /// When it was installed or reported.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub installed_at: Time,
    /// The profile.
    pub charging_profile: crate::commands::ChargingProfile,
}

/// The kinds of record kept as documents: JSON bodies with a few indexed columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A command sent (or to be sent) to a station.
    Command,
    /// A state-changing API request.
    Audit,
    /// A bulk operation.
    Bulk,
    /// A webhook subscription.
    Webhook,
    /// A webhook delivery (its tag is the subscription's id).
    Delivery,
    /// A site (`status` `deleted` once removed).
    Site,
    /// A station model's smart charging quirks.
    Model,
    /// What a transaction's car needs by when (`tag`: the transaction; `status` `open` or
    /// `ended`).
    Needs,
}

impl RecordKind {
    /// The name used in the store.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::Command => "command",
            RecordKind::Audit => "audit",
            RecordKind::Bulk => "bulk",
            RecordKind::Webhook => "webhook",
            RecordKind::Delivery => "delivery",
            RecordKind::Site => "site",
            RecordKind::Model => "model",
            RecordKind::Needs => "needs",
        }
    }
}

/// A record as stored. `seq` orders records of a kind by insertion and is assigned by the
/// store on first insert (a replacement keeps it); lists page by it, so pages stay stable
/// while records are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The kind.
    pub kind: RecordKind,
    /// Its id, unique within the kind.
    pub id: String,
    /// The insertion order (ignored on write).
    pub seq: i64,
    /// The station it concerns, if any.
    pub station_id: Option<String>,
    /// A lookup key (a command's idempotency key), if any.
    pub tag: Option<String>,
    /// Its status, if it has one.
    pub status: Option<String>,
    /// Its time: when it was made (a webhook delivery: when its next attempt is due). A
    /// replacement may move it.
    pub at: Time,
    /// The record, JSON.
    pub body: String,
}

/// Which records to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordQuery {
    /// The kind.
    pub kind: RecordKind,
    /// Only this station's.
    pub station_id: Option<String>,
    /// Only with this tag.
    pub tag: Option<String>,
    /// Only with this status.
    pub status: Option<String>,
    /// Only older than this `seq` (the cursor of the next page).
    pub before: Option<i64>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
    /// Only those whose time (`at`) is at or before this.
    pub at_or_before: Option<Time>,
    /// At most this many.
    pub limit: u32,
}

impl RecordQuery {
    /// The newest records of a kind.
    pub fn of(kind: RecordKind, limit: u32) -> RecordQuery {
        RecordQuery {
            kind,
            station_id: None,
            tag: None,
            status: None,
            before: None,
            oldest_first: false,
            at_or_before: None,
            limit,
        }
    }
}

/// A transaction as stored: its state, where its id came from, and the row's revision.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTransaction {
    /// Its state.
    pub tx: Transaction,
    /// Whether the CSMS assigned its id (1.6), so it is a number.
    pub csms_assigned: bool,
    /// A station whose transaction ids the CSMS assigns (1.6) named an id it was never given
    /// (a StopTransaction or MeterValues of a phantom transaction): kept for the operator to
    /// review, and never merged into a transaction the CSMS starts later (the CSMS does not give
    /// that station that id).
    pub orphan: bool,
    /// The row's revision: how many times it was written.
    pub revision: i64,
}

/// A transaction as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionRow {
    /// The order in which the store first saw it (the cursor of keyset pages; 0 when not read
    /// from the store).
    pub seq: i64,
    /// The station.
    pub station_id: String,
    /// The transaction's id as the station knows it.
    pub transaction_id: String,
    /// Whether the CSMS assigned that id (1.6), so it is a number.
    pub csms_assigned: bool,
    /// Whether it is an orphan ([`StoredTransaction::orphan`]).
    pub orphan: bool,
    /// The EVSE.
    pub evse_id: Option<u32>,
    /// The connector.
    pub connector_id: Option<u32>,
    /// The id token that started it.
    pub id_token: Option<String>,
    /// When it started.
    pub started_at: Option<Time>,
    /// When it stopped.
    pub stopped_at: Option<Time>,
    /// The register at the start (Wh).
    pub meter_start_wh: Option<f64>,
    /// The register at the stop (Wh).
    pub meter_stop_wh: Option<f64>,
    /// The energy delivered (Wh).
    pub energy_wh: Option<f64>,
    /// Why it stopped.
    pub stop_reason: Option<String>,
    /// The latest charging state.
    pub charging_state: Option<String>,
}

impl TransactionRow {
    /// The row of a transaction's state.
    pub fn of(tx: &Transaction, csms_assigned: bool, orphan: bool) -> TransactionRow {
        TransactionRow {
            seq: 0,
            station_id: tx.station_id.clone(),
            transaction_id: tx.transaction_id.clone(),
            csms_assigned,
            orphan,
            evse_id: tx.evse_id(),
            connector_id: tx.connector_id(),
            id_token: tx.id_token().map(|t| t.value.clone()),
            started_at: tx.started_at(),
            stopped_at: tx.stopped_at(),
            meter_start_wh: tx.meter_start_wh(),
            meter_stop_wh: tx.meter_stop_wh(),
            energy_wh: tx.energy_wh(),
            stop_reason: tx.stop_reason(),
            charging_state: tx.fold.charging_state.as_ref().map(|r| r.value.clone()),
        }
    }
}

/// Which transactions to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionQuery {
    /// Only this station's.
    pub station_id: Option<String>,
    /// Only those still going (true) or ended (false).
    pub ongoing: Option<bool>,
    /// Only orphans (true) or only the others (false).
    pub orphan: Option<bool>,
    /// Only those the store saw before this `seq` (the cursor of the next page).
    pub before: Option<i64>,
    /// At most this many, newest first (by `seq`).
    pub limit: u32,
}

/// What recognises a 1.6 StartTransaction sent again because its answer was lost: a start on
/// this station's connector at exactly this time, with this token and register reading.
#[derive(Debug, Clone, PartialEq)]
pub struct StartKey {
    /// The station.
    pub station_id: String,
    /// The connector (1.6 numbering).
    pub connector_id: u32,
    /// The id token that started it.
    pub id_token: String,
    /// When it started.
    pub started_at: Time,
    /// The register at the start (Wh).
    pub meter_start_wh: f64,
}

/// The storage port.
pub trait Store: Send + Sync + 'static {
    /// The same store, its reads on capacity of their own, for operators (the API, commands,
    /// webhooks, housekeeping): however many large reads they run at once, the station path
    /// (handshake lookups, Authorize, StartTransaction) reading through `self` keeps its own.
    /// Writes go to the same queue either way.
    fn operator_view(&self) -> std::sync::Arc<dyn Store>;

    /// Commits writes; resolves once they are durable (or failed, with nothing of them
    /// committed).
    fn commit(&self, writes: Vec<Write>) -> BoxFut<'_, Result<(), StoreError>>;

    /// Queues writes that need no acknowledgement; they go out with the next commit.
    fn append(&self, writes: Vec<Write>);

    /// Adds a frame to the frame log without waiting (like `append` of a `Write::Frame`, which
    /// is what the default does; stores that buffer the log take the text without a copy of
    /// the id).
    fn log_frame(&self, station_id: &str, direction: Direction, at: Time, text: String) {
        self.append(vec![Write::Frame {
            station_id: station_id.to_string(),
            direction,
            at,
            text,
        }]);
    }

    /// A station.
    fn station(&self, id: &str) -> BoxFut<'_, Result<Option<StationRecord>, StoreError>>;

    /// All stations, by id.
    fn stations(&self) -> BoxFut<'_, Result<Vec<StationRecord>, StoreError>>;

    /// A station's connectors, by EVSE and connector.
    fn connectors(&self, station_id: &str) -> BoxFut<'_, Result<Vec<ConnectorRecord>, StoreError>>;

    /// An id token by value (ignoring case): the one of the given type if there is one, else
    /// one of any type.
    fn id_token(
        &self,
        value: &str,
        kind: Option<&str>,
    ) -> BoxFut<'_, Result<Option<IdTokenRecord>, StoreError>>;

    /// A transaction as stored.
    fn transaction(
        &self,
        station_id: &str,
        transaction_id: &str,
    ) -> BoxFut<'_, Result<Option<StoredTransaction>, StoreError>>;

    /// Transactions going on that `id_token` started (station id, transaction id), a few at
    /// most; orphans are not among them.
    fn open_transactions_of(
        &self,
        id_token: &str,
    ) -> BoxFut<'_, Result<Vec<(String, String)>, StoreError>>;

    /// The id of the transaction whose start `key` describes: a 1.6 StartTransaction sent
    /// again because its answer was lost.
    fn find_start(&self, key: StartKey) -> BoxFut<'_, Result<Option<String>, StoreError>>;

    /// A transaction's events as recorded (each once), in arrival order.
    fn transaction_events(
        &self,
        station_id: &str,
        transaction_id: &str,
    ) -> BoxFut<'_, Result<Vec<TransactionEvent>, StoreError>>;

    /// The meter values of a transaction (each once), by time.
    fn meter_values(
        &self,
        station_id: &str,
        transaction_id: &str,
    ) -> BoxFut<'_, Result<Vec<MeterValue>, StoreError>>;

    /// The highest transaction number the CSMS has assigned (0 if none).
    fn max_csms_number(&self) -> BoxFut<'_, Result<i64, StoreError>>;

    /// Transactions, newest first.
    fn transactions(
        &self,
        query: TransactionQuery,
    ) -> BoxFut<'_, Result<Vec<TransactionRow>, StoreError>>;

    /// An API token by the hash of its secret.
    fn api_token(&self, hash: &str) -> BoxFut<'_, Result<Option<ApiTokenRecord>, StoreError>>;

    /// How many API tokens exist (revoked or not).
    fn api_token_count(&self) -> BoxFut<'_, Result<u64, StoreError>>;

    /// Why writes cannot commit now (the database is unreachable, the disk is full), as the
    /// writer last found; `None` while they commit.
    fn write_problem(&self) -> Option<String>;

    /// Deletes what `policy` no longer keeps at `now`, a chunk at a time; returns how many rows
    /// of each kind went.
    fn prune(
        &self,
        policy: crate::retention::Retention,
        now: Time,
    ) -> BoxFut<'_, Result<crate::retention::Pruned, StoreError>>;

    /// Deletes logged frames older than `before`, then the oldest beyond `keep` in all;
    /// returns how many went.
    fn prune_frames(&self, before: Time, keep: u64) -> BoxFut<'_, Result<u64, StoreError>>;

    /// The most recent logged frames of a station, newest first.
    fn frames(
        &self,
        station_id: &str,
        limit: u32,
    ) -> BoxFut<'_, Result<Vec<FrameRecord>, StoreError>>;

    /// A station's device model, ordered by component and variable; only the component or
    /// variable named, when one is.
    fn variables(
        &self,
        station_id: &str,
        component: Option<String>,
        variable: Option<String>,
    ) -> BoxFut<'_, Result<Vec<(crate::device_model::DeviceVariable, Time)>, StoreError>>;

    /// The charging profiles a station holds, as far as Arus knows, by EVSE, purpose, stack
    /// level and id.
    fn charging_profiles(
        &self,
        station_id: &str,
    ) -> BoxFut<'_, Result<Vec<StoredProfile>, StoreError>>;

    /// Every API token, newest first.
    fn api_tokens(&self) -> BoxFut<'_, Result<Vec<ApiTokenRecord>, StoreError>>;

    /// One record.
    fn record(
        &self,
        kind: RecordKind,
        id: &str,
    ) -> BoxFut<'_, Result<Option<StoredRecord>, StoreError>>;

    /// Records, newest first (or oldest first), filtered.
    fn records(&self, query: RecordQuery) -> BoxFut<'_, Result<Vec<StoredRecord>, StoreError>>;

    /// The notices of a station of one kind, oldest first: those with the request id given,
    /// and those without a request id (1.6 sends none) received at or after `since`.
    fn notices(
        &self,
        station_id: &str,
        kind: crate::notices::NoticeKind,
        request_id: Option<i64>,
        since: Time,
    ) -> BoxFut<'_, Result<Vec<(Time, crate::notices::Notice)>, StoreError>>;
}
