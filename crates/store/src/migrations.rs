//! One migration history for both backends.
//!
//! Migration `N` is one file, `migrations/000N_<name>.sql`, where the dialects differ only in
//! the names of column types: it is written in PostgreSQL's words and SQLite's text is made
//! from it at compile time ([`SQLITE_TYPES`]). Where they differ in more (or a change concerns
//! one backend only), it is `migrations/000N_<name>.sqlite.sql` on SQLite and
//! `migrations/000N_<name>.postgres.sql` on PostgreSQL. The list below is the only one, so the
//! numbering cannot drift apart again.
//!
//! A database records what it applied in `schema_migrations` (version, name, time). At start a
//! backend reads that history and asks [`plan`] what to do: renumber rows an older numbering
//! wrote, refuse a history that disagrees with this list, or apply the next missing
//! migration, each in its own transaction under the backend's write lock, until none is left.
//!
//! # Invariants
//!
//! - A migration is identified by its number *and* its name: an applied row whose name is not
//!   the name this list gives its number stops the start ([`Mismatch`]) rather than skipping or
//!   re-running a migration.
//! - PostgreSQL databases made before the numbering was shared count `records` as 4 and
//!   `device model` as 5 (PostgreSQL had no counterpart to SQLite's migration 4); their rows are
//!   renumbered, by number and name together, before anything else. SQLite's numbering did not
//!   change.
//! - Migrations are never edited once released beyond their comments: a database that applied
//!   one is not told of a change. (Only names and times are recorded, no text or checksum; the
//!   migrations that became one file run, on each backend, the very text their two files held.)
//! - [`SQLITE_TYPES`] only replaces whole words in upper case, so names of tables and columns
//!   (lower case) are never touched.

use crate::sql::Dialect;

/// One step of the schema, in both dialects.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Migration {
    /// Its number, the same on both backends.
    pub version: i64,
    /// Its name, as recorded in `schema_migrations`.
    pub name: &'static str,
    /// Its SQLite text.
    pub sqlite: &'static str,
    /// Its PostgreSQL text.
    pub postgres: &'static str,
}

/// The column types of PostgreSQL that SQLite names otherwise, each with SQLite's name; where
/// two could match at one place, the first listed wins.
const SQLITE_TYPES: &[(&str, &str)] = &[
    ("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    ("TIMESTAMPTZ", "TEXT"),
    ("DOUBLE PRECISION", "REAL"),
    ("BIGINT", "INTEGER"),
    ("BOOLEAN", "INTEGER"),
];

/// The entry of [`SQLITE_TYPES`] whose PostgreSQL name stands at `at` in `text` as a whole word.
const fn type_at(text: &[u8], at: usize) -> Option<usize> {
    const fn word(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b == b'_'
    }
    if at > 0 && word(text[at - 1]) {
        return None;
    }
    let mut t = 0;
    while t < SQLITE_TYPES.len() {
        let name = SQLITE_TYPES[t].0.as_bytes();
        let end = at + name.len();
        if end <= text.len() && (end == text.len() || !word(text[end])) {
            let mut i = 0;
            while i < name.len() && text[at + i] == name[i] {
                i += 1;
            }
            if i == name.len() {
                return Some(t);
            }
        }
        t += 1;
    }
    None
}

/// Writes `postgres` in SQLite's words into `out`, as far as it has room; returns the whole
/// length. Both halves of [`sqlite_text`]: first to size the array, then to fill it.
const fn translate(postgres: &str, out: &mut [u8]) -> usize {
    let from = postgres.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < from.len() {
        let (skip, put) = match type_at(from, i) {
            Some(t) => (SQLITE_TYPES[t].0.len(), SQLITE_TYPES[t].1.as_bytes()),
            None => (1, std::slice::from_ref(&from[i])),
        };
        let mut k = 0;
        while k < put.len() {
            if n < out.len() {
                out[n] = put[k];
            }
            n += 1;
            k += 1;
        }
        i += skip;
    }
    n
}

/// The length of `postgres` in SQLite's words.
const fn sqlite_len(postgres: &str) -> usize {
    translate(postgres, &mut [])
}

/// `postgres` in SQLite's words; `N` is its [`sqlite_len`].
const fn sqlite_text<const N: usize>(postgres: &str) -> [u8; N] {
    let mut out = [0u8; N];
    translate(postgres, &mut out);
    out
}

macro_rules! migration {
    // One file for both: PostgreSQL's text, and SQLite's made from it.
    ($version:literal, $name:literal, $file:literal) => {{
        const POSTGRES: &str = include_str!(concat!("migrations/", $file, ".sql"));
        const SQLITE: [u8; sqlite_len(POSTGRES)] = sqlite_text(POSTGRES);
        Migration {
            version: $version,
            name: $name,
            sqlite: match std::str::from_utf8(&SQLITE) {
                Ok(s) => s,
                Err(_) => panic!("replacing ASCII words keeps UTF-8 valid"),
            },
            postgres: POSTGRES,
        }
    }};
    // A file per dialect.
    ($version:literal, $name:literal, $file:literal, per_dialect) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("migrations/", $file, ".sqlite.sql")),
            postgres: include_str!(concat!("migrations/", $file, ".postgres.sql")),
        }
    };
}

/// Every migration, in order; versions count up from 1 without gaps.
pub(crate) const MIGRATIONS: &[Migration] = &[
    migration!(1, "initial schema", "0001_initial_schema"),
    migration!(2, "batched frame log", "0002_batched_frame_log"),
    migration!(
        3,
        "lighter meter value indexes",
        "0003_lighter_meter_value_indexes"
    ),
    migration!(
        4,
        "meter values settle in batches",
        "0004_meter_values_settle_in_batches",
        per_dialect
    ),
    migration!(5, "records", "0005_records"),
    migration!(6, "device model", "0006_device_model"),
    migration!(
        7,
        "transaction revisions and orphans",
        "0007_transaction_revisions_and_orphans"
    ),
    migration!(
        8,
        "meter values recognised once",
        "0008_meter_values_recognised_once",
        per_dialect
    ),
    migration!(
        9,
        "concurrent use of id tokens",
        "0009_concurrent_use_of_id_tokens"
    ),
    migration!(
        10,
        "self-registered stations",
        "0010_self_registered_stations"
    ),
    migration!(11, "charging profiles", "0011_charging_profiles"),
];

/// Rows of PostgreSQL's old numbering: (old version, name, version now), the highest first so
/// that no two rows share a number midway.
const POSTGRES_RENUMBERED: &[(i64, &str, i64)] = &[(5, "device model", 6), (4, "records", 5)];

/// A history this program does not know: the database's migration `version` is `found`, where
/// this program has `expected`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the database's migration {version} is `{found}`, this program's is `{expected}`: the database was made by another version of Arus"
)]
pub struct Mismatch {
    /// The migration's number.
    pub version: i64,
    /// Its name in the database.
    pub found: String,
    /// Its name here.
    pub expected: &'static str,
}

/// What a backend does next to bring a database up to date.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Give the applied migration `name` the number `to` instead of `from`.
    Renumber {
        /// The number in the database.
        from: i64,
        /// The number now.
        to: i64,
        /// The migration's name.
        name: &'static str,
    },
    /// Apply a migration.
    Apply(&'static Migration),
}

/// The steps that bring a database with history `applied` (version and name of each row) up to
/// date, in order: renumbering first, then every missing migration. Empty when it is.
pub(crate) fn plan(dialect: Dialect, applied: &[(i64, String)]) -> Result<Vec<Step>, Mismatch> {
    let mut history: Vec<(i64, &str)> = applied.iter().map(|(v, n)| (*v, n.as_str())).collect();
    let mut steps = Vec::new();
    if dialect == Dialect::Postgres {
        for &(from, name, to) in POSTGRES_RENUMBERED {
            if let Some(row) = history.iter_mut().find(|r| **r == (from, name)) {
                row.0 = to;
                steps.push(Step::Renumber { from, to, name });
            }
        }
    }
    for &(version, found) in &history {
        // Rows beyond this list (a newer Arus) are left alone.
        if let Some(m) = MIGRATIONS.iter().find(|m| m.version == version)
            && m.name != found
        {
            return Err(Mismatch {
                version,
                found: found.to_string(),
                expected: m.name,
            });
        }
    }
    steps.extend(
        MIGRATIONS
            .iter()
            .filter(|m| !history.iter().any(|(v, _)| *v == m.version))
            .map(Step::Apply),
    );
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(rows: &[(i64, &str)]) -> Vec<(i64, String)> {
        rows.iter().map(|(v, n)| (*v, n.to_string())).collect()
    }

    fn applied(steps: &[Step]) -> Vec<i64> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Apply(m) => Some(m.version),
                Step::Renumber { .. } => None,
            })
            .collect()
    }

    #[test]
    fn versions_count_up_and_every_file_says_its_number() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            let head = format!("-- {} ", m.version);
            assert!(m.sqlite.starts_with(&head), "sqlite {}", m.version);
            assert!(m.postgres.starts_with(&head), "postgres {}", m.version);
        }
    }

    #[test]
    fn sqlite_gets_its_names_of_whole_types_only() {
        const POSTGRES: &str = "CREATE TABLE t (\n    id BIGSERIAL PRIMARY KEY,\n    at TIMESTAMPTZ NOT NULL,\n    \
            n BIGINT, x DOUBLE PRECISION, b BOOLEAN,\n    BIGINTS TEXT, timestamptz TEXT, é BIGINT\n);";
        const SQLITE: [u8; sqlite_len(POSTGRES)] = sqlite_text(POSTGRES);
        assert_eq!(
            std::str::from_utf8(&SQLITE).expect("UTF-8"),
            "CREATE TABLE t (\n    id INTEGER PRIMARY KEY AUTOINCREMENT,\n    at TEXT NOT NULL,\n    \
            n INTEGER, x REAL, b INTEGER,\n    BIGINTS TEXT, timestamptz TEXT, é INTEGER\n);"
        );
    }

    #[test]
    fn no_sqlite_text_keeps_a_postgres_type() {
        for m in MIGRATIONS {
            let text = m.sqlite.as_bytes();
            let left = (0..text.len()).find_map(|at| type_at(text, at));
            assert_eq!(left, None, "migration {}", m.version);
        }
    }

    #[test]
    fn a_new_database_gets_everything() {
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let steps = plan(d, &[]).expect("plan");
            assert_eq!(applied(&steps), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        }
    }

    #[test]
    fn an_up_to_date_database_gets_nothing() {
        let all: Vec<(i64, &str)> = MIGRATIONS.iter().map(|m| (m.version, m.name)).collect();
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            assert_eq!(plan(d, &history(&all)).expect("plan"), []);
        }
    }

    #[test]
    fn old_postgres_numbering_is_renumbered_not_rerun() {
        let old = history(&[
            (1, "initial schema"),
            (2, "batched frame log"),
            (3, "lighter meter value indexes"),
            (4, "records"),
            (5, "device model"),
        ]);
        let steps = plan(Dialect::Postgres, &old).expect("plan");
        assert_eq!(
            steps[..2],
            [
                Step::Renumber {
                    from: 5,
                    to: 6,
                    name: "device model"
                },
                Step::Renumber {
                    from: 4,
                    to: 5,
                    name: "records"
                },
            ]
        );
        assert_eq!(applied(&steps), [4, 7, 8, 9, 10, 11]);
        // Without device model yet.
        let steps = plan(Dialect::Postgres, &old[..4]).expect("plan");
        assert_eq!(applied(&steps), [4, 6, 7, 8, 9, 10, 11]);
        // SQLite never had that numbering: the same rows there are a foreign history.
        assert!(plan(Dialect::Sqlite, &old).is_err());
    }

    #[test]
    fn a_foreign_history_is_refused() {
        let err = plan(
            Dialect::Sqlite,
            &history(&[(1, "initial schema"), (2, "something else")]),
        )
        .expect_err("refused");
        assert_eq!(err.version, 2);
        assert_eq!(err.expected, "batched frame log");
        // A newer program's migrations beyond the list are not this one's business.
        let all: Vec<(i64, &str)> = MIGRATIONS
            .iter()
            .map(|m| (m.version, m.name))
            .chain([(99, "from the future")])
            .collect();
        assert_eq!(plan(Dialect::Postgres, &history(&all)).expect("plan"), []);
    }
}
