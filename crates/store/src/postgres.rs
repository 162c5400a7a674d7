//! The PostgreSQL backend.
//!
//! One task owns a dedicated writer connection and commits groups of jobs, pipelining every
//! statement of a group inside one transaction; reads use a connection pool. When the writer's
//! connection is lost it reconnects with backoff, refusing writes meanwhile, and the store
//! reports why writes cannot commit (`Store::write_problem`) until they do again. Durability is
//! PostgreSQL's own (`synchronous_commit` on, its default, which this backend insists on).
//!
//! Statements are the `postgres` texts of `crate::sql`; the writer prepares each once and keeps
//! it (`Prepared`), the read pool caches them per connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arus_domain::Time;
use arus_domain::authorization::{AuthorizationStatus, IdTokenRecord, token_key};
use arus_domain::availability::{ConnectorRecord, ConnectorStatus};
use arus_domain::device_model::DeviceVariable;
use arus_domain::metering::MeterValue;
use arus_domain::notices::{Notice, NoticeKind};
use arus_domain::provisioning::{RegistrationStatus, StationRecord};
use arus_domain::retention::{Pruned, Retention};
use arus_domain::store::{
    ApiTokenRecord, BoxFut, FrameRecord, RecordKind, RecordQuery, Role, StartKey, Store,
    StoreError, StoredProfile, StoredRecord, StoredTransaction, TransactionQuery, TransactionRow,
    Write,
};
use arus_domain::transactions::{Transaction, TransactionEvent};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::future::try_join_all;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::group::{self, Job, Queue, WriteHealth};
use crate::migrations::{self, Step};
use crate::sql::{self, Arg, Dialect, postgres_only};
use crate::{OpenError, rows};

pub(crate) mod tls;
mod writer;
use writer::{connect, int, writer_loop};

/// Read connections of the station path.
const READERS: usize = 8;

/// Read connections of operators ([`Store::operator_view`]): capacity of their own, so that
/// large API reads never take the station path's.
const OPERATOR_READERS: usize = 4;

pub(crate) struct PgStore {
    queue: Queue,
    /// The pool this view reads with.
    pool: Pool,
    /// The operators' pool (the same as `pool` in the operators' view).
    operators: Pool,
}

/// How many times one pruning retries a chunk that met a concurrent change.
const PRUNE_CONFLICTS: u32 = 10;

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::unavailable(e)
}

/// A refused write: a broken unique key is a conflict, anything else the database's failure.
fn classify(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
            StoreError::conflict(e)
        }
        _ => unavailable(e),
    }
}

/// The values of a query built at run time, as this backend binds them.
fn bind<'a>(args: &'a [Arg<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter()
        .map(|a| match a {
            Arg::Text(t) => t as &(dyn ToSql + Sync),
            Arg::Int(n) => n,
            Arg::Time(t) => *t,
        })
        .collect()
}

/// Brings the schema up to date (see `migrations`): each step in a transaction holding the
/// bookkeeping table's lock, planned again from the history it finds, so that nodes starting
/// together apply each migration once.
async fn migrate(client: &mut Client) -> Result<(), OpenError> {
    let failed = || OpenError::postgres("migrating");
    client
        .batch_execute(postgres_only::MIGRATIONS_TABLE)
        .await
        .map_err(failed())?;
    loop {
        let tx = client.transaction().await.map_err(failed())?;
        tx.batch_execute(postgres_only::LOCK_MIGRATIONS)
            .await
            .map_err(failed())?;
        let applied = tx
            .query(sql::APPLIED_MIGRATIONS.postgres, &[])
            .await
            .map_err(failed())?
            .iter()
            .map(|r| Ok((r.try_get::<_, i64>(0)?, r.try_get::<_, String>(1)?)))
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(failed())?;
        let mut applying = None;
        for step in migrations::plan(Dialect::Postgres, &applied)? {
            match step {
                Step::Renumber { from, to, name } => {
                    tx.execute(sql::MIGRATION_RENUMBERED.postgres, &[&from, &to, &name])
                        .await
                        .map_err(failed())?;
                    tracing::info!(from, to, name, "renumbered postgres migration");
                }
                Step::Apply(m) => {
                    let applied = async {
                        tx.batch_execute(m.postgres).await?;
                        let at = chrono::Utc::now();
                        tx.execute(sql::MIGRATION_APPLIED.postgres, &[&m.version, &m.name, &at])
                            .await
                    };
                    if let Err(e) = applied.await {
                        tracing::error!(
                            version = m.version,
                            name = m.name,
                            "postgres migration failed"
                        );
                        return Err(OpenError::postgres("applying a migration")(e));
                    }
                    applying = Some(m);
                    break;
                }
            }
        }
        tx.commit().await.map_err(failed())?;
        match applying {
            Some(m) => tracing::info!(
                version = m.version,
                name = m.name,
                "applied postgres migration"
            ),
            None => return Ok(()),
        }
    }
}

impl PgStore {
    pub(crate) async fn open(url: &str) -> Result<PgStore, OpenError> {
        let (target, verify) = tls::target(url)?;
        if verify == tls::Verify::Nothing {
            tracing::debug!("postgres: the server's certificate is not verified (sslmode)");
        }
        let mut writer = connect(&target)
            .await
            .map_err(OpenError::postgres("connecting"))?;
        migrate(&mut writer.client).await?;
        let pool = |size| {
            let manager = Manager::from_config(
                target.config.clone(),
                target.tls.clone(),
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size)
                .build()
                .map_err(OpenError::Pool)
        };
        let operators = pool(OPERATOR_READERS)?;
        let pool = pool(READERS)?;
        let (queue, rx) = Queue::new();
        tokio::spawn(writer_loop(target, writer, rx, queue.health.clone()));
        Ok(PgStore {
            queue,
            pool,
            operators,
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(unavailable)
    }
}

fn station_row(r: &Row) -> StationRecord {
    let policy: String = r.get(2);
    let registration: Option<String> = r.get(3);
    StationRecord {
        id: r.get(0),
        password_hash: r.get(1),
        boot_policy: RegistrationStatus::parse(&policy).unwrap_or(RegistrationStatus::Accepted),
        registration: registration.as_deref().and_then(RegistrationStatus::parse),
        boot: rows::boot(r.get(4)),
        booted_at: r.get(5),
        protocol: r.get(6),
        created_at: r.get(7),
        last_seen_at: r.get(8),
        electrical: arus_domain::provisioning::Electrical {
            max_current_a: r.get(9),
            max_power_w: r.get(10),
            voltage_v: r.get(11),
        },
    }
}

fn uint(v: Option<i64>) -> Option<u32> {
    v.and_then(|n| u32::try_from(n).ok())
}

/// A transaction read by [`sql::TRANSACTION`].
pub(super) fn stored_transaction(
    r: &Row,
    station_id: String,
    transaction_id: String,
) -> StoredTransaction {
    let fold: String = r.get(0);
    rows::stored_transaction(
        station_id,
        transaction_id,
        &fold,
        r.get(1),
        r.get(2),
        r.get(3),
    )
}

fn transaction_row(r: &Row) -> TransactionRow {
    let number: Option<i64> = r.get(3);
    TransactionRow {
        seq: r.get(0),
        station_id: r.get(1),
        transaction_id: r.get(2),
        csms_assigned: number.is_some(),
        evse_id: uint(r.get(4)),
        connector_id: uint(r.get(5)),
        id_token: r.get(6),
        started_at: r.get(7),
        stopped_at: r.get(8),
        meter_start_wh: r.get(9),
        meter_stop_wh: r.get(10),
        energy_wh: r.get(11),
        stop_reason: r.get(12),
        charging_state: r.get(13),
        orphan: r.get(14),
    }
}

impl Store for PgStore {
    fn operator_view(&self) -> Arc<dyn Store> {
        Arc::new(PgStore {
            queue: self.queue.clone(),
            pool: self.operators.clone(),
            operators: self.operators.clone(),
        })
    }

    group::queued_writes!();

    fn station(&self, id: &str) -> BoxFut<'_, Result<Option<StationRecord>, StoreError>> {
        let id = id.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(sql::STATION.postgres)
                .await
                .map_err(unavailable)?;
            let row = c.query_opt(&stmt, &[&id]).await.map_err(unavailable)?;
            Ok(row.as_ref().map(station_row))
        })
    }

    fn stations(&self) -> BoxFut<'_, Result<Vec<StationRecord>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let rows = c
                .query(sql::STATIONS.postgres, &[])
                .await
                .map_err(unavailable)?;
            Ok(rows.iter().map(station_row).collect())
        })
    }

    fn connectors(&self, station_id: &str) -> BoxFut<'_, Result<Vec<ConnectorRecord>, StoreError>> {
        let id = station_id.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(sql::CONNECTORS.postgres)
                .await
                .map_err(unavailable)?;
            let rows = c.query(&stmt, &[&id]).await.map_err(unavailable)?;
            Ok(rows
                .iter()
                .map(|r| {
                    let status: String = r.get(2);
                    ConnectorRecord {
                        evse_id: uint(r.get(0)).unwrap_or_default(),
                        connector_id: uint(r.get(1)).unwrap_or_default(),
                        status: ConnectorStatus::parse(&status)
                            .unwrap_or(ConnectorStatus::Unavailable),
                        error_code: r.get(3),
                        info: r.get(4),
                        updated_at: r.get(5),
                    }
                })
                .collect())
        })
    }

    fn id_token(
        &self,
        value: &str,
        kind: Option<&str>,
    ) -> BoxFut<'_, Result<Option<IdTokenRecord>, StoreError>> {
        let key = token_key(value);
        let kind = kind.unwrap_or_default().to_string();
        Box::pin(async move {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(sql::ID_TOKEN.postgres)
                .await
                .map_err(unavailable)?;
            let row = c
                .query_opt(&stmt, &[&key, &kind])
                .await
                .map_err(unavailable)?;
            Ok(row.map(|r| {
                let status: String = r.get(2);
                IdTokenRecord {
                    id_token: r.get(0),
                    kind: r.get(1),
                    status: AuthorizationStatus::parse(&status)
                        .unwrap_or(AuthorizationStatus::Invalid),
                    group_id_token: r.get(3),
                    expiry_date: r.get(4),
                    concurrent_use: r.get(5),
                }
            }))
        })
    }

    fn transaction(
        &self,
        station_id: &str,
        transaction_id: &str,
    ) -> BoxFut<'_, Result<Option<StoredTransaction>, StoreError>> {
        let (s, t) = (station_id.to_string(), transaction_id.to_string());
        Box::pin(async move {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(sql::TRANSACTION.postgres)
                .await
                .map_err(unavailable)?;
            let row = c.query_opt(&stmt, &[&s, &t]).await.map_err(unavailable)?;
            Ok(row.map(|r| stored_transaction(&r, s, t)))
        })
    }

    fn open_transactions_of(
        &self,
        id_token: &str,
    ) -> BoxFut<'_, Result<Vec<(String, String)>, StoreError>> {
        let token = id_token.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(sql::OPEN_TRANSACTIONS_OF.postgres)
                .await
                .map_err(unavailable)?;
            let rows = c.query(&stmt, &[&token]).await.map_err(unavailable)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn find_start(&self, key: StartKey) -> BoxFut<'_, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(sql::FIND_START.postgres)
                .await
                .map_err(unavailable)?;
            let row = c
                .query_opt(
                    &stmt,
                    &[
                        &key.station_id,
                        &key.started_at,
                        &int(key.connector_id),
                        &key.id_token,
                        &key.meter_start_wh,
                    ],
                )
                .await
                .map_err(unavailable)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn transaction_events(
        &self,
        station_id: &str,
        transaction_id: &str,
    ) -> BoxFut<'_, Result<Vec<TransactionEvent>, StoreError>> {
        let (s, t) = (station_id.to_string(), transaction_id.to_string());
        Box::pin(async move {
            let c = self.client().await?;
            let rows = c
                .query(sql::TRANSACTION_EVENTS.postgres, &[&s, &t])
                .await
                .map_err(unavailable)?;
            Ok(rows
                .iter()
                .filter_map(|r| serde_json::from_str(r.get::<_, &str>(0)).ok())
                .collect())
        })
    }

    fn meter_values(
        &self,
        station_id: &str,
        transaction_id: &str,
    ) -> BoxFut<'_, Result<Vec<MeterValue>, StoreError>> {
        let (s, t) = (station_id.to_string(), transaction_id.to_string());
        Box::pin(async move {
            let c = self.client().await?;
            let rows = c
                .query(postgres_only::METER_VALUES, &[&s, &t])
                .await
                .map_err(unavailable)?;
            Ok(rows
                .iter()
                .map(|r| MeterValue {
                    timestamp: r.get(0),
                    samples: serde_json::from_str(r.get::<_, &str>(1)).unwrap_or_default(),
                })
                .collect())
        })
    }

    fn max_csms_number(&self) -> BoxFut<'_, Result<i64, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let row = c
                .query_one(sql::MAX_CSMS_NUMBER.postgres, &[])
                .await
                .map_err(unavailable)?;
            Ok(row.get(0))
        })
    }

    fn transactions(
        &self,
        query: TransactionQuery,
    ) -> BoxFut<'_, Result<Vec<TransactionRow>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let (text, args) = sql::transactions(Dialect::Postgres, &query);
            let rows = c.query(&text, &bind(&args)).await.map_err(unavailable)?;
            Ok(rows.iter().map(transaction_row).collect())
        })
    }

    fn api_token(&self, hash: &str) -> BoxFut<'_, Result<Option<ApiTokenRecord>, StoreError>> {
        let hash = hash.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(sql::API_TOKEN.postgres)
                .await
                .map_err(unavailable)?;
            let row = c.query_opt(&stmt, &[&hash]).await.map_err(unavailable)?;
            Ok(row.as_ref().map(api_token_row))
        })
    }

    fn api_token_count(&self) -> BoxFut<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let row = c
                .query_one(sql::API_TOKEN_COUNT.postgres, &[])
                .await
                .map_err(unavailable)?;
            let n: i64 = row.get(0);
            Ok(n as u64)
        })
    }

    fn prune(&self, policy: Retention, now: Time) -> BoxFut<'_, Result<Pruned, StoreError>> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let mut pruned = Pruned::default();
            for step in crate::prune::plan(&policy, now) {
                let args = step.args();
                let params = bind(&args);
                let mut conflicts = 0;
                loop {
                    // One snapshot for the chunk's statements (REPEATABLE READ): each selects
                    // the same rows, and a row changed since (a station seen again) makes
                    // the chunk fail whole rather than leave a station without its connectors.
                    let chunk = async {
                        let tx = client
                            .build_transaction()
                            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                            .start()
                            .await?;
                        let mut counts = Vec::with_capacity(step.statements.len());
                        for (statement, count) in step.statements {
                            counts.push((count, tx.execute(statement.postgres, &params).await?));
                        }
                        tx.commit().await?;
                        Ok::<_, tokio_postgres::Error>(counts)
                    }
                    .await;
                    let counts = match chunk {
                        Ok(counts) => counts,
                        Err(e)
                            if e.code()
                                == Some(
                                    &tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE,
                                )
                                && conflicts < PRUNE_CONFLICTS =>
                        {
                            conflicts += 1;
                            continue;
                        }
                        Err(e) => return Err(unavailable(e)),
                    };
                    let mut last = 0;
                    for (count, n) in counts {
                        count(&mut pruned, n);
                        last = n;
                    }
                    if last == 0 {
                        break;
                    }
                }
            }
            Ok(pruned)
        })
    }

    fn prune_frames(&self, before: Time, keep: u64) -> BoxFut<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let old = c
                .query_one(postgres_only::PRUNE_OLD, &[&before])
                .await
                .map_err(unavailable)?;
            let over = c
                .query_one(postgres_only::PRUNE_OVER, &[&(keep as i64)])
                .await
                .map_err(unavailable)?;
            let (old, over): (i64, i64) = (old.get(0), over.get(0));
            Ok((old + over) as u64)
        })
    }

    fn frames(
        &self,
        station_id: &str,
        limit: u32,
    ) -> BoxFut<'_, Result<Vec<FrameRecord>, StoreError>> {
        let s = station_id.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            // Rows hold up to 512 frames; enough rows for the limit, newest first.
            let rows = c
                .query(sql::FRAMES.postgres, &[&s, &(limit as i64)])
                .await
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for r in &rows {
                out.extend(
                    crate::framelog::decode(r.get::<_, &str>(0))
                        .into_iter()
                        .rev(),
                );
                if out.len() >= limit as usize {
                    break;
                }
            }
            out.truncate(limit as usize);
            Ok(out)
        })
    }

    fn charging_profiles(
        &self,
        station_id: &str,
    ) -> BoxFut<'_, Result<Vec<StoredProfile>, StoreError>> {
        let s = station_id.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            let rows = c
                .query(sql::CHARGING_PROFILES.postgres, &[&s])
                .await
                .map_err(unavailable)?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    let profile: String = r.get(2);
                    rows::stored_profile(r.get(0), r.get(1), &profile, r.get(3))
                })
                .collect())
        })
    }

    fn variables(
        &self,
        station_id: &str,
        component: Option<String>,
        variable: Option<String>,
    ) -> BoxFut<'_, Result<Vec<(DeviceVariable, Time)>, StoreError>> {
        let s = station_id.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            let rows = c
                .query(sql::VARIABLES.postgres, &[&s, &component, &variable])
                .await
                .map_err(unavailable)?;
            Ok(rows
                .iter()
                .map(|r| {
                    let instance: String = r.get(1);
                    let evse: i64 = r.get(2);
                    let connector: i64 = r.get(3);
                    let var_instance: String = r.get(5);
                    let characteristics: Option<String> = r.get(9);
                    (
                        DeviceVariable {
                            component: r.get(0),
                            component_instance: (!instance.is_empty()).then_some(instance),
                            evse_id: u32::try_from(evse).ok(),
                            connector_id: u32::try_from(connector).ok(),
                            variable: r.get(4),
                            variable_instance: (!var_instance.is_empty()).then_some(var_instance),
                            attribute: r.get(6),
                            value: r.get(7),
                            mutability: r.get(8),
                            characteristics: characteristics
                                .and_then(|c| serde_json::from_str(&c).ok())
                                .unwrap_or_default(),
                        },
                        r.get(10),
                    )
                })
                .collect())
        })
    }

    fn api_tokens(&self) -> BoxFut<'_, Result<Vec<ApiTokenRecord>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let rows = c
                .query(sql::API_TOKENS.postgres, &[])
                .await
                .map_err(unavailable)?;
            Ok(rows.iter().map(api_token_row).collect())
        })
    }

    fn record(
        &self,
        kind: RecordKind,
        id: &str,
    ) -> BoxFut<'_, Result<Option<StoredRecord>, StoreError>> {
        let id = id.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            let row = c
                .query_opt(sql::RECORD.postgres, &[&kind.as_str(), &id])
                .await
                .map_err(unavailable)?;
            Ok(row.map(|r| record_row(kind, &r)))
        })
    }

    fn records(&self, q: RecordQuery) -> BoxFut<'_, Result<Vec<StoredRecord>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let (text, args) = sql::records(Dialect::Postgres, &q);
            let rows = c.query(&text, &bind(&args)).await.map_err(unavailable)?;
            Ok(rows.iter().map(|r| record_row(q.kind, r)).collect())
        })
    }

    fn notices(
        &self,
        station_id: &str,
        kind: NoticeKind,
        request_id: Option<i64>,
        since: Time,
    ) -> BoxFut<'_, Result<Vec<(Time, Notice)>, StoreError>> {
        let s = station_id.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            let rows = c
                .query(
                    sql::NOTICES.postgres,
                    &[&s, &kind.as_str(), &request_id, &since],
                )
                .await
                .map_err(unavailable)?;
            Ok(rows
                .iter()
                .map(|r| {
                    let details: String = r.get(3);
                    (
                        r.get(4),
                        Notice {
                            kind,
                            at: r.get(0),
                            request_id: r.get(1),
                            status: r.get(2),
                            details: serde_json::from_str(&details).unwrap_or_default(),
                        },
                    )
                })
                .collect())
        })
    }
}

fn api_token_row(r: &tokio_postgres::Row) -> ApiTokenRecord {
    let role: String = r.get(2);
    ApiTokenRecord {
        hash: r.get(0),
        name: r.get(1),
        role: Role::parse(&role).unwrap_or(Role::ReadOnly),
        created_at: r.get(3),
        revoked_at: r.get(4),
    }
}

fn record_row(kind: RecordKind, r: &tokio_postgres::Row) -> StoredRecord {
    StoredRecord {
        kind,
        seq: r.get(0),
        id: r.get(1),
        station_id: r.get(2),
        tag: r.get(3),
        status: r.get(4),
        at: r.get(5),
        body: r.get(6),
    }
}

#[cfg(all(test, feature = "test-support"))]
mod read_capacity {
    use super::*;

    /// However many reads operators hold, the station path reads on capacity of its own.
    #[tokio::test]
    async fn operators_cannot_take_the_station_paths_reads() {
        let Some(url) = crate::testing::postgres_database("read_capacity").await else {
            return;
        };
        let store = PgStore::open(&url).await.expect("opens");
        let operators = store.operator_view();
        let mut held = Vec::new();
        for _ in 0..OPERATOR_READERS {
            held.push(store.operators.get().await.expect("operator connection"));
        }
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            operators.station("CS1"),
        )
        .await;
        assert!(
            waiting.is_err(),
            "an operator read waits for its own capacity"
        );
        assert_eq!(
            store.station("CS1").await.expect("station path reads"),
            None
        );
        drop(held);
        assert_eq!(
            operators.station("CS1").await.expect("operator reads"),
            None
        );
    }
}
