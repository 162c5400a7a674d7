//! The store's SQL, written once for both backends.
//!
//! A statement both dialects agree on is written once, with PostgreSQL's numbered placeholders
//! (`$1`), as an [`Sql`] that also carries the SQLite text: the same statement with each `$N`
//! turned into `?N`, made at compile time. (SQLite reads `$1` as a *named* parameter, numbered
//! by first appearance, so PostgreSQL's text would bind the wrong values there.) The backends
//! prepare and cache these texts as before, so nothing is translated or parsed per execution.
//!
//! Statements only one backend has, or that the dialects cannot share, are in
//! [`sqlite_only`] and [`postgres_only`], each saying why.
//!
//! Queries whose filters are chosen at run time (pages of transactions and records) are built
//! by [`transactions`] and [`records`] for either dialect, with their values in binding order.
//!
//! # Invariants
//!
//! - The two texts of an [`Sql`] differ only in the placeholder sign, so they bind the same
//!   values in the same order.
//! - A `$` in a shared statement is always a placeholder (no dollar quoting, no `$` inside a
//!   literal): the translation turns every `$` followed by a digit into `?`. A test checks
//!   every statement.
//! - Times are bound as each backend stores them (text in SQLite, `timestamptz` in
//!   PostgreSQL); the statements do not depend on it.

use arus_domain::Time;
use arus_domain::store::{RecordQuery, TransactionQuery};

/// A statement in both dialects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sql {
    /// The text with `$N` placeholders.
    pub postgres: &'static str,
    /// The text with `?N` placeholders.
    pub sqlite: &'static str,
}

/// The SQLite form of a statement written with `$N` placeholders: every `$` followed by a
/// digit becomes `?`. Same length, so it can run at compile time into an array.
const fn sqlite_placeholders<const N: usize>(postgres: &str) -> [u8; N] {
    let from = postgres.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = if from[i] == b'$' && i + 1 < N && from[i + 1].is_ascii_digit() {
            b'?'
        } else {
            from[i]
        };
        i += 1;
    }
    out
}

/// Defines shared statements: `NAME = "text with $1";` becomes an [`Sql`] const.
macro_rules! shared {
    ($($(#[$attr:meta])* $name:ident = $text:expr;)*) => {
        $(
            $(#[$attr])*
            pub(crate) const $name: Sql = {
                const POSTGRES: &str = $text;
                const SQLITE: [u8; POSTGRES.len()] = sqlite_placeholders(POSTGRES);
                Sql {
                    postgres: POSTGRES,
                    sqlite: match std::str::from_utf8(&SQLITE) {
                        Ok(s) => s,
                        Err(_) => panic!("an ASCII substitution keeps UTF-8 valid"),
                    },
                }
            };
        )*
        /// Every shared statement, for the tests.
        #[cfg(test)]
        pub(crate) const ALL: &[(&str, Sql)] = &[$((stringify!($name), $name)),*];
    };
}

/// The columns of a station, in the order the backends' `station_row` reads them.
macro_rules! station_columns {
    () => {
        "id, password_hash, boot_policy, registration, boot, booted_at, protocol, created_at, last_seen_at, max_current_a, max_power_w, voltage_v"
    };
}

/// The columns of a transaction row, in the order the backends' `transaction_row` reads them.
macro_rules! transaction_columns {
    () => {
        "id, station_id, transaction_id, csms_number, evse_id, connector_id, id_token, started_at, stopped_at, meter_start_wh, meter_stop_wh, energy_wh, stop_reason, charging_state, orphan"
    };
}

/// The columns of a record, in the order the backends' `record_row` reads them.
macro_rules! record_columns {
    () => {
        "seq, id, station_id, tag, status, at, body"
    };
}

shared! {
    // Writes: one statement per `Write`, prepared once by each writer.

    /// Creates or replaces a station's credentials and policy.
    PUT_STATION = "INSERT INTO stations (id, password_hash, boot_policy, created_at, self_registered) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, boot_policy = excluded.boot_policy,
           self_registered = stations.self_registered AND excluded.self_registered";

    /// What the operator registered of a station's electrical side.
    STATION_ELECTRICAL = "UPDATE stations SET max_current_a = $2, max_power_w = $3, voltage_v = $4 WHERE id = $1";

    /// A station connected with a protocol.
    STATION_CONNECTED = "UPDATE stations SET protocol = $2, last_seen_at = $3 WHERE id = $1";

    /// A station was heard from.
    STATION_SEEN = "UPDATE stations SET last_seen_at = $2 WHERE id = $1";

    /// A station booted.
    BOOT = "UPDATE stations SET registration = $2, boot = $3, booted_at = $4, last_seen_at = $4 WHERE id = $1";

    /// A connector's status; a report older than the one stored (a replay after an outage)
    /// does not win.
    CONNECTOR_STATUS = "INSERT INTO connectors (station_id, evse_id, connector_id, status, error_code, info, vendor_id, vendor_error_code, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (station_id, evse_id, connector_id) DO UPDATE SET
           status = excluded.status, error_code = excluded.error_code, info = excluded.info,
           vendor_id = excluded.vendor_id, vendor_error_code = excluded.vendor_error_code,
           updated_at = excluded.updated_at
         WHERE excluded.updated_at >= connectors.updated_at";

    /// A transaction's fold, upserted if the row is still at revision `$17` (or new); the CSMS
    /// number, once given, stays. No row changes when another write came in between: the
    /// writer then merges ([`MERGE_TRANSACTION`]).
    PUT_TRANSACTION = "INSERT INTO transactions (station_id, transaction_id, csms_number, evse_id, connector_id, id_token,
           started_at, stopped_at, meter_start_wh, meter_stop_wh, energy_wh, stop_reason, charging_state, fold, updated_at,
           orphan, revision)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 1)
         ON CONFLICT (station_id, transaction_id) DO UPDATE SET
           csms_number = COALESCE(transactions.csms_number, excluded.csms_number),
           evse_id = excluded.evse_id, connector_id = excluded.connector_id, id_token = excluded.id_token,
           started_at = excluded.started_at, stopped_at = excluded.stopped_at,
           meter_start_wh = excluded.meter_start_wh, meter_stop_wh = excluded.meter_stop_wh,
           energy_wh = excluded.energy_wh, stop_reason = excluded.stop_reason,
           charging_state = excluded.charging_state, fold = excluded.fold, updated_at = excluded.updated_at,
           revision = transactions.revision + 1
         WHERE transactions.revision = $17";

    /// A transaction's row replaced by the merge of its stored fold and a write folded from an
    /// older revision (`$15`: the revision read for the merge).
    MERGE_TRANSACTION = "UPDATE transactions SET
           csms_number = COALESCE(csms_number, $3), evse_id = $4, connector_id = $5, id_token = $6,
           started_at = $7, stopped_at = $8, meter_start_wh = $9, meter_stop_wh = $10, energy_wh = $11,
           stop_reason = $12, charging_state = $13, fold = $14, updated_at = $16, revision = revision + 1
         WHERE station_id = $1 AND transaction_id = $2 AND revision = $15";

    /// A transaction event; a retry hits a unique index and changes nothing.
    TRANSACTION_EVENT = "INSERT INTO transaction_events (station_id, transaction_id, seq_no, kind, timestamp, trigger_reason, offline, event, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING";

    /// A meter value, into the indexed table (SQLite's values of transactions wait in
    /// `meter_values_recent` instead); one already there (same station, transaction or EVSE,
    /// time and digest of its samples) is not added again.
    METER_VALUE = "INSERT INTO meter_values (station_id, evse_id, transaction_id, timestamp, samples, received_at, digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

    /// A notice (firmware, log, report, security event...).
    NOTICE = "INSERT INTO notices (station_id, kind, at, request_id, status, details, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)";

    /// One row of the frame log: a batch of a station's frames.
    FRAME_BATCH = "INSERT INTO frame_log (station_id, first_at, last_at, count, frames) VALUES ($1, $2, $3, $4, $5)";

    /// An id token, by its case-insensitive key and type.
    PUT_ID_TOKEN = "INSERT INTO id_tokens (token_key, kind, id_token, status, group_id_token, expiry_date, concurrent_use)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (token_key, kind) DO UPDATE SET id_token = excluded.id_token, status = excluded.status,
           group_id_token = excluded.group_id_token, expiry_date = excluded.expiry_date,
           concurrent_use = excluded.concurrent_use";

    /// One attribute of the device model; what the new value does not say is kept.
    PUT_VARIABLE = "INSERT INTO device_variables (station_id, component, component_instance, evse_id, connector_id,
           variable, variable_instance, attribute, value, mutability, characteristics, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (station_id, component, component_instance, evse_id, connector_id, variable, variable_instance, attribute)
         DO UPDATE SET value = COALESCE(excluded.value, device_variables.value),
           mutability = COALESCE(excluded.mutability, device_variables.mutability),
           characteristics = COALESCE(excluded.characteristics, device_variables.characteristics),
           updated_at = excluded.updated_at";

    /// A record (command, audit entry, bulk operation, webhook subscription or delivery).
    PUT_RECORD = "INSERT INTO records (kind, id, station_id, tag, status, at, body) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (kind, id) DO UPDATE SET station_id = excluded.station_id, tag = excluded.tag,
           status = excluded.status, at = excluded.at, body = excluded.body";

    /// An API token.
    PUT_API_TOKEN = "INSERT INTO api_tokens (hash, name, role, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (hash) DO UPDATE SET name = excluded.name, role = excluded.role, revoked_at = excluded.revoked_at";

    // Reads.

    /// One station.
    STATION = concat!("SELECT ", station_columns!(), " FROM stations WHERE id = $1");

    /// Every station.
    STATIONS = concat!("SELECT ", station_columns!(), " FROM stations ORDER BY id");

    /// A station's connectors.
    CONNECTORS = "SELECT evse_id, connector_id, status, error_code, info, updated_at FROM connectors
         WHERE station_id = $1 ORDER BY evse_id, connector_id";

    /// An id token by key: the exact type first, then any type (stations do not always report
    /// the type the operator registered, and 1.6 reports none).
    ID_TOKEN = "SELECT id_token, kind, status, group_id_token, expiry_date, concurrent_use FROM id_tokens
         WHERE token_key = $1 ORDER BY (kind = $2) DESC, kind LIMIT 1";

    /// A transaction's fold, whether the CSMS numbered it, whether it is an orphan, and its
    /// revision.
    TRANSACTION = "SELECT fold, csms_number, orphan, revision FROM transactions WHERE station_id = $1 AND transaction_id = $2";

    /// The transactions going on that a token started (station and transaction id), a few.
    OPEN_TRANSACTIONS_OF = "SELECT station_id, transaction_id FROM transactions
         WHERE id_token = $1 AND stopped_at IS NULL AND orphan = FALSE LIMIT 8";

    /// A 1.6 start already numbered, recognised by its content.
    FIND_START = "SELECT transaction_id FROM transactions WHERE station_id = $1 AND started_at = $2
         AND connector_id = $3 AND id_token = $4 AND meter_start_wh = $5 AND csms_number IS NOT NULL LIMIT 1";

    /// A transaction's events in arrival order.
    TRANSACTION_EVENTS = "SELECT event FROM transaction_events WHERE station_id = $1 AND transaction_id = $2 ORDER BY id";

    /// The highest number the CSMS gave a transaction, 0 without any.
    MAX_CSMS_NUMBER = "SELECT CAST(COALESCE(MAX(csms_number), 0) AS BIGINT) FROM transactions";

    /// An API token by hash.
    API_TOKEN = "SELECT hash, name, role, created_at, revoked_at FROM api_tokens WHERE hash = $1";

    /// How many API tokens there are.
    API_TOKEN_COUNT = "SELECT COUNT(*) FROM api_tokens";

    /// Every API token, newest first.
    API_TOKENS = "SELECT hash, name, role, created_at, revoked_at FROM api_tokens ORDER BY created_at DESC, hash";

    /// A station's frame-log rows, newest first; each holds at least one frame, so `$2` rows
    /// hold at least `$2` frames.
    FRAMES = "SELECT frames FROM frame_log WHERE station_id = $1 ORDER BY id DESC LIMIT $2";

    /// What a charging profile replaces on the station: the profile with its id ($2), and one
    /// on the same EVSE ($3) with the same purpose ($4) and stack level ($5).
    REPLACED_CHARGING_PROFILES = "DELETE FROM charging_profiles WHERE station_id = $1
           AND (profile_id = $2 OR (evse_id = $3 AND purpose = $4 AND stack_level = $5))";

    /// A charging profile a station holds.
    PUT_CHARGING_PROFILE = "INSERT INTO charging_profiles (station_id, profile_id, evse_id, purpose, stack_level,
           transaction_id, source, profile, installed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

    /// Charging profiles removed: those matching every criterion given (id, EVSE, purpose,
    /// stack level), never external constraints.
    CLEAR_CHARGING_PROFILES = "DELETE FROM charging_profiles WHERE station_id = $1
           AND purpose <> 'ChargingStationExternalConstraints'
           AND (CAST($2 AS BIGINT) IS NULL OR profile_id = $2) AND (CAST($3 AS BIGINT) IS NULL OR evse_id = $3)
           AND (CAST($4 AS TEXT) IS NULL OR purpose = $4) AND (CAST($5 AS BIGINT) IS NULL OR stack_level = $5)";

    /// A station's charging profiles.
    CHARGING_PROFILES = "SELECT evse_id, source, profile, installed_at FROM charging_profiles
         WHERE station_id = $1 ORDER BY evse_id, purpose, stack_level, profile_id";

    /// A station's device model, optionally of one component and one variable. (The casts
    /// tell PostgreSQL the type of a parameter that may be null; SQLite takes them as is.)
    VARIABLES = "SELECT component, component_instance, evse_id, connector_id, variable, variable_instance,
           attribute, value, mutability, characteristics, updated_at
         FROM device_variables WHERE station_id = $1
           AND (CAST($2 AS TEXT) IS NULL OR component = $2) AND (CAST($3 AS TEXT) IS NULL OR variable = $3)
         ORDER BY component, component_instance, evse_id, connector_id, variable, variable_instance, attribute
         LIMIT 100000";

    /// One record by kind and id.
    RECORD = concat!("SELECT ", record_columns!(), " FROM records WHERE kind = $1 AND id = $2");

    /// A station's notices of a kind: those of a request, or those without one since a time.
    NOTICES = "SELECT at, request_id, status, details, received_at FROM notices
         WHERE station_id = $1 AND kind = $2
           AND (request_id = $3 OR (request_id IS NULL AND received_at >= $4))
         ORDER BY id LIMIT 1000";

    // The migrations' bookkeeping (its table is made in each dialect's own types).

    /// The migrations applied so far.
    APPLIED_MIGRATIONS = "SELECT version, name FROM schema_migrations ORDER BY version";

    /// Records a migration as applied.
    MIGRATION_APPLIED = "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)";

    /// Gives a migration applied under an old number its number now.
    MIGRATION_RENUMBERED = "UPDATE schema_migrations SET version = $2 WHERE version = $1 AND name = $3";

    // Retention (`crate::prune`): each statement deletes one chunk, oldest first, so that no
    // delete holds the database for long; the pruner repeats it until nothing is left.

    /// Meter values outside transactions older than $1, through the partial index on their
    /// time.
    PRUNE_METER_VALUES_OUTSIDE = "DELETE FROM meter_values WHERE id IN
        (SELECT id FROM meter_values WHERE transaction_id IS NULL AND timestamp < $1 LIMIT 5000)";

    /// The meter values of the next transactions that ended before $1.
    PRUNE_TRANSACTION_METER_VALUES = "DELETE FROM meter_values WHERE (station_id, transaction_id) IN
        (SELECT station_id, transaction_id FROM transactions WHERE stopped_at < $1 ORDER BY id LIMIT 50)";

    /// Their events.
    PRUNE_TRANSACTION_EVENTS = "DELETE FROM transaction_events WHERE (station_id, transaction_id) IN
        (SELECT station_id, transaction_id FROM transactions WHERE stopped_at < $1 ORDER BY id LIMIT 50)";

    /// And the transactions themselves.
    PRUNE_TRANSACTIONS = "DELETE FROM transactions WHERE id IN
        (SELECT id FROM transactions WHERE stopped_at < $1 ORDER BY id LIMIT 50)";

    /// Notices that arrived before $1.
    PRUNE_NOTICES = "DELETE FROM notices WHERE id IN
        (SELECT id FROM notices WHERE received_at < $1 ORDER BY id LIMIT 5000)";

    /// Finished records of kind $1 made (or, for deliveries, last attempted) before $2.
    PRUNE_RECORDS = "DELETE FROM records WHERE seq IN
        (SELECT seq FROM records WHERE kind = $1 AND at < $2
           AND (status IS NULL OR status NOT IN ('queued', 'pending', 'running'))
         ORDER BY seq LIMIT 5000)";

    /// The connectors of the next self-registered stations not heard from since $1 and
    /// without a transaction.
    PRUNE_STATION_CONNECTORS = "DELETE FROM connectors WHERE station_id IN (SELECT id FROM stations
        WHERE self_registered AND COALESCE(last_seen_at, created_at) < $1
          AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.station_id = stations.id)
         ORDER BY id LIMIT 500)";

    /// Their charging profiles.
    PRUNE_STATION_CHARGING_PROFILES = "DELETE FROM charging_profiles WHERE station_id IN (SELECT id FROM stations
        WHERE self_registered AND COALESCE(last_seen_at, created_at) < $1
          AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.station_id = stations.id)
         ORDER BY id LIMIT 500)";

    /// Their device models.
    PRUNE_STATION_VARIABLES = "DELETE FROM device_variables WHERE station_id IN (SELECT id FROM stations
        WHERE self_registered AND COALESCE(last_seen_at, created_at) < $1
          AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.station_id = stations.id)
         ORDER BY id LIMIT 500)";

    /// And the stations.
    PRUNE_STATIONS = "DELETE FROM stations WHERE id IN (SELECT id FROM stations
        WHERE self_registered AND COALESCE(last_seen_at, created_at) < $1
          AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.station_id = stations.id)
         ORDER BY id LIMIT 500)";
}

/// Statements only SQLite has, or writes its own way.
pub(crate) mod sqlite_only {
    /// The bookkeeping table: SQLite has no `timestamptz`, times are text.
    pub(crate) const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)";

    /// A meter value of a transaction, into the table without indexes it waits in (SQLite's
    /// schema only: see migration 0004).
    pub(crate) const METER_VALUE_RECENT: &str = "INSERT INTO meter_values_recent (station_id, evse_id, transaction_id, timestamp, samples, received_at, digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

    /// Moves the waiting meter values into `meter_values`, sorted by transaction; a value
    /// already there, or waiting twice, is moved once (the unique index of migration 8).
    pub(crate) const SETTLE_METER_VALUES: &str = "INSERT INTO meter_values (station_id, evse_id, transaction_id, timestamp, samples, received_at, digest)
         SELECT station_id, evse_id, transaction_id, timestamp, samples, received_at, digest
         FROM meter_values_recent WHERE true ORDER BY station_id, transaction_id, id ON CONFLICT DO NOTHING";

    /// Empties the waiting table (without a WHERE clause SQLite does it in one step).
    pub(crate) const SETTLED: &str = "DELETE FROM meter_values_recent";

    /// A transaction's meter values: both tables, each value once (a repeat waiting to
    /// settle is skipped: the first of its kind is read, and none already settled).
    pub(crate) const METER_VALUES: &str = "SELECT timestamp, samples, 0 AS recent, id FROM meter_values WHERE station_id = ?1 AND transaction_id = ?2
         UNION ALL
         SELECT timestamp, samples, 1, MIN(id) FROM meter_values_recent r WHERE station_id = ?1 AND transaction_id = ?2
           AND NOT EXISTS (SELECT 1 FROM meter_values m WHERE m.station_id = ?1 AND m.transaction_id = ?2
             AND m.timestamp = r.timestamp AND m.digest = r.digest)
         GROUP BY timestamp, digest
         ORDER BY 1, 3, 4";

    /// Frame-log rows older than a time, a chunk per statement (with [`PRUNE_DELETE`]): one
    /// large DELETE held SQLite's single write lock for seconds. PostgreSQL deletes in one
    /// statement beside its writer.
    pub(crate) const PRUNE_OLD: &str = "SELECT id FROM frame_log WHERE last_at < ?1";

    /// Frame-log rows up to an id, in chunks (see [`PRUNE_OLD`]).
    pub(crate) const PRUNE_UP_TO: &str = "SELECT id FROM frame_log WHERE id <= ?1 ORDER BY id";

    /// Deletes a chunk of the rows a `PRUNE_*` query selects, `{select}` and `{chunk}` filled
    /// in once per prune, and answers their frame counts.
    pub(crate) fn prune_delete(select: &str, chunk: i64) -> String {
        format!("DELETE FROM frame_log WHERE id IN ({select} LIMIT {chunk}) RETURNING count")
    }

    /// The frame-log rows newest first with their frame counts, walked row by row to find where
    /// `keep` frames end: a window function over the table held all of it in memory in SQLite
    /// (tens of MiB); PostgreSQL uses one (see `postgres_only::PRUNE_OVER`).
    pub(crate) const FRAME_COUNTS: &str = "SELECT id, count FROM frame_log ORDER BY id DESC";
}

/// Statements only PostgreSQL has, or writes its own way.
pub(crate) mod postgres_only {
    /// The bookkeeping table, with PostgreSQL's types.
    pub(crate) const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)";

    /// One migrator at a time, even with several nodes starting together (SQLite has one
    /// writer per file and takes its write lock with `BEGIN IMMEDIATE`).
    pub(crate) const LOCK_MIGRATIONS: &str = "LOCK TABLE schema_migrations IN EXCLUSIVE MODE";

    /// A transaction's meter values: PostgreSQL has no waiting table (see
    /// `sqlite_only::METER_VALUES`).
    pub(crate) const METER_VALUES: &str = "SELECT timestamp, samples FROM meter_values WHERE station_id = $1 AND transaction_id = $2 ORDER BY timestamp, id";

    /// Deletes frame-log rows older than a time, answering how many frames went (one
    /// statement: PostgreSQL's row locks do not hold the writer back).
    pub(crate) const PRUNE_OLD: &str =
        "WITH gone AS (DELETE FROM frame_log WHERE last_at < $1 RETURNING count)
         SELECT COALESCE(SUM(count), 0)::BIGINT FROM gone";

    /// Deletes the oldest frame-log rows beyond `$1` frames in all, answering how many frames
    /// went.
    pub(crate) const PRUNE_OVER: &str = "WITH cut AS (SELECT id FROM (SELECT id, (SUM(count) OVER (ORDER BY id DESC))::BIGINT AS kept FROM frame_log) k
                      WHERE kept > $1 ORDER BY id DESC LIMIT 1),
              gone AS (DELETE FROM frame_log WHERE id <= (SELECT id FROM cut) RETURNING count)
         SELECT COALESCE(SUM(count), 0)::BIGINT FROM gone";
}

/// Which placeholders a statement built at run time uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `?N`.
    Sqlite,
    /// `$N`.
    Postgres,
}

/// A value of a statement built at run time, for the backend to bind its way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Arg<'a> {
    /// Text.
    Text(&'a str),
    /// An integer.
    Int(i64),
    /// A time.
    Time(&'a Time),
}

/// A SELECT whose conditions are added one by one, each with one value.
struct Select<'a> {
    dialect: Dialect,
    sql: String,
    args: Vec<Arg<'a>>,
}

impl<'a> Select<'a> {
    fn new(dialect: Dialect, sql: &str) -> Select<'a> {
        Select {
            dialect,
            sql: sql.to_string(),
            args: Vec::new(),
        }
    }

    /// Adds `AND {condition} <placeholder>`, the placeholder standing for `value`.
    fn and(&mut self, condition: &str, value: Arg<'a>) {
        use std::fmt::Write;
        self.args.push(value);
        let sign = match self.dialect {
            Dialect::Sqlite => '?',
            Dialect::Postgres => '$',
        };
        // Writing into a String cannot fail.
        let _ = write!(self.sql, " AND {condition} {sign}{}", self.args.len());
    }

    fn finish(mut self, rest: &str) -> (String, Vec<Arg<'a>>) {
        self.sql.push_str(rest);
        (self.sql, self.args)
    }
}

/// A page of transactions, newest first, and its values in binding order.
pub(crate) fn transactions(dialect: Dialect, q: &TransactionQuery) -> (String, Vec<Arg<'_>>) {
    let mut s = Select::new(
        dialect,
        concat!(
            "SELECT ",
            transaction_columns!(),
            " FROM transactions WHERE 1 = 1"
        ),
    );
    if let Some(station) = &q.station_id {
        s.and("station_id =", Arg::Text(station));
    }
    if let Some(before) = q.before {
        s.and("id <", Arg::Int(before));
    }
    match q.orphan {
        Some(true) => s.sql.push_str(" AND orphan = TRUE"),
        Some(false) => s.sql.push_str(" AND orphan = FALSE"),
        None => {}
    }
    // An orphan is not a transaction going on, whatever its messages said.
    match q.ongoing {
        Some(true) => s.sql.push_str(" AND stopped_at IS NULL AND orphan = FALSE"),
        Some(false) => s.sql.push_str(" AND stopped_at IS NOT NULL"),
        None => {}
    }
    let limit = q.limit.clamp(1, 1000);
    s.finish(&format!(" ORDER BY id DESC LIMIT {limit}"))
}

/// A page of records by insertion order, and its values in binding order.
pub(crate) fn records(dialect: Dialect, q: &RecordQuery) -> (String, Vec<Arg<'_>>) {
    let mut s = Select::new(
        dialect,
        concat!("SELECT ", record_columns!(), " FROM records WHERE 1 = 1"),
    );
    s.and("kind =", Arg::Text(q.kind.as_str()));
    if let Some(station) = &q.station_id {
        s.and("station_id =", Arg::Text(station));
    }
    if let Some(tag) = &q.tag {
        s.and("tag =", Arg::Text(tag));
    }
    if let Some(status) = &q.status {
        s.and("status =", Arg::Text(status));
    }
    if let Some(before) = q.before {
        s.and("seq <", Arg::Int(before));
    }
    if let Some(at) = &q.at_or_before {
        s.and("at <=", Arg::Time(at));
    }
    let order = if q.oldest_first { "ASC" } else { "DESC" };
    s.finish(&format!(" ORDER BY seq {order} LIMIT {}", q.limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arus_domain::store::RecordKind;

    #[test]
    fn the_sqlite_text_differs_only_in_placeholders() {
        for (name, sql) in ALL {
            assert_eq!(sql.postgres.len(), sql.sqlite.len(), "{name}");
            assert!(
                !sql.sqlite.contains('$'),
                "{name}: a `$` is not a placeholder"
            );
            assert_eq!(
                sql.sqlite.replace('?', "$"),
                sql.postgres,
                "{name}: a `?` outside a placeholder"
            );
        }
        assert_eq!(
            STATION_CONNECTED.sqlite,
            "UPDATE stations SET protocol = ?2, last_seen_at = ?3 WHERE id = ?1"
        );
    }

    #[test]
    fn run_time_queries_number_their_values() {
        let mut q = RecordQuery::of(RecordKind::Command, 50);
        q.station_id = Some("CS1".into());
        q.before = Some(9);
        let (sql, args) = records(Dialect::Sqlite, &q);
        assert!(
            sql.ends_with(
                "WHERE 1 = 1 AND kind = ?1 AND station_id = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT 50"
            ),
            "{sql}"
        );
        assert_eq!(
            args,
            [Arg::Text("command"), Arg::Text("CS1"), Arg::Int(9)],
            "{sql}"
        );
        let (sql, args) = records(Dialect::Postgres, &q);
        assert!(
            sql.contains("kind = $1 AND station_id = $2 AND seq < $3"),
            "{sql}"
        );
        assert_eq!(args.len(), 3);

        let q = TransactionQuery {
            station_id: None,
            ongoing: Some(true),
            orphan: None,
            before: Some(5),
            limit: 0,
        };
        let (sql, args) = transactions(Dialect::Postgres, &q);
        assert!(
            sql.ends_with(
                "WHERE 1 = 1 AND id < $1 AND stopped_at IS NULL AND orphan = FALSE ORDER BY id DESC LIMIT 1"
            ),
            "{sql}"
        );
        assert_eq!(args, [Arg::Int(5)]);
    }
}
