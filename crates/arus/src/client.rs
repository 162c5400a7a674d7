//! The operator's command line: subcommands that talk to a running server's API (stations,
//! commands, bulk operations, events, API tokens, id tokens, transactions). Tables by
//! default, the API's JSON with `--json`.
//!
//! The server and token come from `--server`/`ARUS_SERVER` and `--token`/`ARUS_TOKEN`. A
//! problem answer is printed as `error: <detail>` (or as JSON with `--json`) and the command
//! exits with status 1.
//!
//! Request bodies are typed structs, and the members the client reads from an answer are read
//! through typed views; tables and `--json` show the answer as the server sent it.

use std::io::{BufRead, BufReader, Write as _};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{Map, Value};

mod bodies;
mod charging;

pub(crate) use charging::{Charging, Sites};

use bodies::{
    BulkCommand, BulkView, CommandView, ConnectorRow, EventView, NewBulk, NewIdToken, NewStation,
    NewToken, ProblemView, StationView, view,
};

/// How to reach the server.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// The server's HTTP address.
    #[arg(
        long,
        global = true,
        env = "ARUS_SERVER",
        default_value = "http://127.0.0.1:8180"
    )]
    server: String,
    /// An API token.
    #[arg(long, global = true, env = "ARUS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
}

/// `arus stations ...`
#[derive(Debug, Subcommand)]
pub(crate) enum Stations {
    /// Lists stations.
    List {
        /// Only connected stations.
        #[arg(long)]
        connected: bool,
    },
    /// Shows a station with its EVSEs and connectors.
    Show {
        /// The station.
        id: String,
    },
    /// Registers a station, or changes its password or boot policy (what is not given stays).
    Add {
        /// The station's identity.
        id: String,
        /// Its HTTP Basic password.
        #[arg(long)]
        password: Option<String>,
        /// Accepted, Pending or Rejected.
        #[arg(long)]
        boot_policy: Option<String>,
    },
    /// Removes a station's password: it then connects without credentials.
    RemovePassword {
        /// The station.
        id: String,
    },
    /// Shows a station's device model and configuration.
    Variables {
        /// The station.
        id: String,
        /// Only this component.
        #[arg(long)]
        component: Option<String>,
    },
}

/// `arus command STATION NAME [KEY=VALUE...]`
#[derive(Debug, Args)]
pub(crate) struct CommandArgs {
    /// The station.
    station: String,
    /// The command: reset, remoteStart, remoteStop, unlockConnector, changeAvailability,
    /// triggerMessage, getVariables, setVariables, getBaseReport, getReport, clearCache,
    /// sendLocalList, getLocalListVersion, reserveNow, cancelReservation, updateFirmware,
    /// getLog, getTransactionStatus, customerInformation, dataTransfer, installCertificate,
    /// getInstalledCertificates, deleteCertificate, setNetworkProfile.
    name: String,
    /// The command's parameters as KEY=VALUE (VALUE is read as JSON when it parses, else as
    /// text), e.g. `kind=Immediate evseId=1`.
    params: Vec<String>,
    /// The whole body as JSON instead of KEY=VALUE pairs.
    #[arg(long, conflicts_with = "params")]
    body: Option<String>,
    /// Return at once with the command's id.
    #[arg(long = "async")]
    asynchronous: bool,
    /// Queue for this many seconds if the station is not connected.
    #[arg(long)]
    queue_for: Option<u32>,
}

/// `arus commands ...`
#[derive(Debug, Subcommand)]
pub(crate) enum Commands {
    /// Lists commands, newest first.
    List {
        /// Only this station's.
        #[arg(long)]
        station: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Shows a command and what followed it.
    Show {
        /// The command's id.
        id: String,
    },
}

/// `arus tokens ...`
#[derive(Debug, Subcommand)]
pub(crate) enum Tokens {
    /// Lists API tokens.
    List,
    /// Makes an API token (shown once).
    Create {
        /// A name for people.
        name: String,
        /// read-only, operator or admin.
        role: String,
    },
    /// Revokes an API token.
    Revoke {
        /// The token's id.
        id: String,
    },
}

/// `arus id-tokens ...`
#[derive(Debug, Subcommand)]
pub(crate) enum IdTokens {
    /// Registers or changes an id token.
    Add {
        /// The token.
        id_token: String,
        /// Its type.
        #[arg(long = "type", default_value = "ISO14443")]
        kind: String,
        /// Accepted, Blocked, Expired, Invalid...
        #[arg(long, default_value = "Accepted")]
        status: String,
        /// Its group.
        #[arg(long)]
        group: Option<String>,
        /// When it expires (RFC 3339).
        #[arg(long)]
        expiry: Option<String>,
        /// It may be in several transactions at once (a fleet card).
        #[arg(long)]
        concurrent_use: bool,
    },
    /// Shows an id token.
    Show {
        /// The token.
        id_token: String,
    },
}

/// `arus events`
#[derive(Debug, Args)]
pub(crate) struct EventArgs {
    /// Only these stations (comma-separated).
    #[arg(long)]
    station: Option<String>,
    /// Only these event types (comma-separated).
    #[arg(long = "type")]
    kind: Option<String>,
}

/// `arus bulk STATIONS NAME [KEY=VALUE...]`
#[derive(Debug, Args)]
pub(crate) struct BulkArgs {
    /// The stations (comma-separated), or `all`, or `connected`.
    stations: String,
    /// The command (as for `arus command`).
    name: String,
    /// Its parameters as KEY=VALUE.
    params: Vec<String>,
    /// Commands under way at once.
    #[arg(long, default_value_t = 10)]
    concurrency: u32,
    /// Wait for the operation to finish, showing progress.
    #[arg(long)]
    wait: bool,
}

/// The subcommands that use the API.
#[derive(Debug)]
pub(crate) enum Request {
    Stations(Stations),
    Command(CommandArgs),
    Commands(Commands),
    Bulk(BulkArgs),
    Events(EventArgs),
    Tokens(Tokens),
    IdTokens(IdTokens),
    Transactions { station: Option<String>, limit: u32 },
    Charging(Charging),
    Sites(Sites),
}

struct Client {
    base: String,
    token: Option<String>,
    json: bool,
    http: reqwest::blocking::Client,
}

impl Client {
    fn new(c: Connection, streaming: bool) -> anyhow::Result<Client> {
        // https servers need a crypto provider; nothing else has installed one in this process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::blocking::Client::builder();
        b = if streaming {
            b.timeout(None)
        } else {
            b.timeout(std::time::Duration::from_secs(330))
        };
        Ok(Client {
            base: c.server.trim_end_matches('/').to_string(),
            token: c.token,
            json: c.json,
            http: b.build().context("building the HTTP client")?,
        })
    }

    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let res = req.send().with_context(|| {
            format!(
                "reaching {} (is the server running? see --server)",
                self.base
            )
        })?;
        let status = res.status();
        let text = res.text().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_client_error() || status.is_server_error() {
            if self.json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            }
            let detail = ProblemView::detail(&value, "the server refused the request");
            bail!("{detail} ({status})");
        }
        Ok(value)
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None)
    }

    fn post(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Value> {
        let body = serde_json::to_value(body).context("encoding the request")?;
        self.send(reqwest::Method::POST, path, Some(&body))
    }

    /// Prints the page at `path`: its JSON, or a table of `columns` of its items.
    fn list(&self, path: &str, columns: &[(&str, &str)]) -> anyhow::Result<()> {
        let v = self.get(path)?;
        self.show(&v, &items(&v), columns)
    }

    /// Reads the item `id` of `/api/v1/{collection}` to show it: with `--json` it is printed
    /// here and `None` comes back, else the caller prints it its own way.
    fn item(&self, collection: &str, id: &str) -> anyhow::Result<Option<Value>> {
        let v = self.get(&format!("/api/v1/{collection}/{}", encode(id)))?;
        if self.json {
            self.show_object(&v)?;
            return Ok(None);
        }
        Ok(Some(v))
    }

    /// Prints the JSON, or a table of `columns` (header, JSON pointer) of `rows`.
    fn show(&self, value: &Value, rows: &[Value], columns: &[(&str, &str)]) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            print!("{}", table(rows, columns));
        }
        Ok(())
    }

    /// Prints the JSON, or `key: value` lines of the top-level fields.
    fn show_object(&self, value: &Value) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
            return Ok(());
        }
        if let Some(m) = value.as_object() {
            let width = m.keys().map(|k| k.len()).max().unwrap_or(0);
            for (k, v) in m {
                println!("{k:width$}  {}", cell(v));
            }
        }
        Ok(())
    }
}

/// A cell's text: strings bare, null empty, anything else as compact JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An aligned text table.
fn table(rows: &[Value], columns: &[(&str, &str)]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|(_, p)| r.pointer(p).map(cell).unwrap_or_default())
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<String>| -> String {
        let mut s = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s + "\n"
    };
    let mut out = line(columns.iter().map(|(h, _)| h.to_string()).collect());
    for r in cells {
        out.push_str(&line(r));
    }
    out
}

/// KEY=VALUE pairs as a JSON object: VALUE is JSON when it parses, else text.
fn params(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut m = Map::new();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            bail!("`{p}` is not KEY=VALUE");
        };
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        m.insert(k.to_string(), value);
    }
    Ok(m)
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn items(v: &Value) -> Vec<Value> {
    v.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Runs a subcommand against the server.
pub(crate) fn run(connection: Connection, request: Request) -> anyhow::Result<()> {
    let streaming = matches!(request, Request::Events(_));
    let c = Client::new(connection, streaming)?;
    match request {
        Request::Stations(Stations::List { connected }) => {
            let path = if connected {
                "/api/v1/stations?connected=true&limit=1000"
            } else {
                "/api/v1/stations?limit=1000"
            };
            c.list(
                path,
                &[
                    ("ID", "/id"),
                    ("CONNECTED", "/connected"),
                    ("OCPP", "/ocppVersion"),
                    ("VENDOR", "/vendor"),
                    ("MODEL", "/model"),
                    ("REGISTRATION", "/registrationStatus"),
                    ("LAST SEEN", "/lastSeenAt"),
                ],
            )
        }
        Request::Stations(Stations::Show { id }) => {
            let Some(v) = c.item("stations", &id)? else {
                return Ok(());
            };
            let mut top = v.clone();
            if let Some(m) = top.as_object_mut() {
                m.remove("evses");
            }
            c.show_object(&top)?;
            let station: StationView = view(&v);
            let connectors: Vec<Value> = station
                .evses
                .into_iter()
                .flat_map(|e| {
                    let evse = e.id;
                    e.connectors.into_iter().map(move |connector| {
                        serde_json::to_value(ConnectorRow {
                            evse: evse.clone(),
                            connector,
                        })
                        .unwrap_or_default()
                    })
                })
                .collect();
            println!();
            print!(
                "{}",
                table(
                    &connectors,
                    &[
                        ("EVSE", "/evse"),
                        ("CONNECTOR", "/id"),
                        ("STATUS", "/status"),
                        ("ERROR", "/errorCode"),
                        ("SINCE", "/updatedAt"),
                    ]
                )
            );
            Ok(())
        }
        Request::Stations(Stations::Add {
            id,
            password,
            boot_policy,
        }) => {
            let body = NewStation {
                id,
                password,
                boot_policy,
            };
            let v = c.post("/api/v1/stations", &body)?;
            c.show_object(&v)
        }
        Request::Stations(Stations::RemovePassword { id }) => {
            let v = c.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/stations/{}/password", encode(&id)),
                None,
            )?;
            c.show_object(&v)
        }
        Request::Stations(Stations::Variables { id, component }) => {
            let mut path = format!("/api/v1/stations/{}/variables", encode(&id));
            if let Some(comp) = component {
                path.push_str(&format!("?component={}", encode(&comp)));
            }
            c.list(
                &path,
                &[
                    ("COMPONENT", "/component"),
                    ("EVSE", "/evseId"),
                    ("VARIABLE", "/variable"),
                    ("ATTRIBUTE", "/attribute"),
                    ("VALUE", "/value"),
                    ("MUTABILITY", "/mutability"),
                    ("UPDATED", "/updatedAt"),
                ],
            )
        }
        Request::Command(a) => {
            let body = match &a.body {
                Some(b) => serde_json::from_str(b).context("--body is not JSON")?,
                None => Value::Object(params(&a.params)?),
            };
            let mut path = format!(
                "/api/v1/stations/{}/commands/{}",
                encode(&a.station),
                encode(&a.name)
            );
            let mut query = Vec::new();
            if a.asynchronous {
                query.push("async=true".to_string());
            }
            if let Some(q) = a.queue_for {
                query.push(format!("queueFor={q}"));
            }
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            let v = c.post(&path, &body)?;
            command_summary(&c, &v)
        }
        Request::Commands(Commands::List { station, limit }) => {
            let mut path = format!("/api/v1/commands?limit={limit}");
            if let Some(s) = station {
                path.push_str(&format!("&stationId={}", encode(&s)));
            }
            c.list(
                &path,
                &[
                    ("ID", "/id"),
                    ("STATION", "/stationId"),
                    ("COMMAND", "/command/type"),
                    ("STATUS", "/status"),
                    ("ANSWER", "/outcome/status"),
                    ("CREATED", "/createdAt"),
                    ("BY", "/requestedBy"),
                ],
            )
        }
        Request::Commands(Commands::Show { id }) => {
            let Some(v) = c.item("commands", &id)? else {
                return Ok(());
            };
            command_summary(&c, &v)?;
            let follow = v
                .get("followUps")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !follow.is_empty() {
                println!();
                print!(
                    "{}",
                    table(
                        &follow,
                        &[
                            ("RECEIVED", "/receivedAt"),
                            ("KIND", "/kind"),
                            ("STATUS", "/status"),
                        ]
                    )
                );
            }
            Ok(())
        }
        Request::Bulk(a) => {
            if a.params.iter().any(|p| p.starts_with("type=")) {
                bail!(
                    "the command is named by NAME (`{}`), not by a `type=` parameter",
                    a.name
                );
            }
            let (connected_only, station_ids) = match a.stations.as_str() {
                "all" => (false, None),
                "connected" => (true, None),
                list => (
                    false,
                    Some(list.split(',').map(|s| s.trim().to_string()).collect()),
                ),
            };
            let body = NewBulk {
                command: BulkCommand {
                    name: a.name,
                    params: params(&a.params)?,
                },
                concurrency: a.concurrency,
                connected_only,
                station_ids,
            };
            let started = c.post("/api/v1/bulk", &body)?;
            if !a.wait {
                return c.show_object(&started);
            }
            let id = view::<BulkView>(&started).id;
            loop {
                let v = c.get(&format!("/api/v1/bulk/{}", encode(&id)))?;
                let bulk: BulkView = view(&v);
                if !c.json {
                    eprintln!(
                        "{}: {} of {} submitted {}",
                        bulk.status,
                        bulk.submitted,
                        bulk.station_ids.len(),
                        bulk.by_status
                    );
                }
                if bulk.status != "running" {
                    return c.show(
                        &v,
                        &bulk.results,
                        &[
                            ("STATION", "/stationId"),
                            ("STATUS", "/status"),
                            ("ANSWER", "/outcome"),
                            ("ERROR", "/error"),
                            ("COMMAND", "/commandId"),
                        ],
                    );
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        Request::Events(a) => tail(&c, a),
        Request::Charging(cmd) => charging::charging(&c, cmd),
        Request::Sites(cmd) => charging::sites(&c, cmd),
        Request::Tokens(Tokens::List) => c.list(
            "/api/v1/tokens",
            &[
                ("ID", "/id"),
                ("NAME", "/name"),
                ("ROLE", "/role"),
                ("CREATED", "/createdAt"),
                ("REVOKED", "/revokedAt"),
            ],
        ),
        Request::Tokens(Tokens::Create { name, role }) => {
            let v = c.post("/api/v1/tokens", &NewToken { name, role })?;
            c.show_object(&v)?;
            if !c.json {
                eprintln!("keep the token: it is not shown again");
            }
            Ok(())
        }
        Request::Tokens(Tokens::Revoke { id }) => {
            let v = c.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/tokens/{}", encode(&id)),
                None,
            )?;
            c.show_object(&v)
        }
        Request::IdTokens(IdTokens::Add {
            id_token,
            kind,
            status,
            group,
            expiry,
            concurrent_use,
        }) => {
            let body = NewIdToken {
                id_token,
                kind,
                status,
                group_id_token: group,
                expiry_date: expiry,
                concurrent_use,
            };
            let v = c.post("/api/v1/id-tokens", &body)?;
            c.show_object(&v)
        }
        Request::IdTokens(IdTokens::Show { id_token }) => {
            let v = c.get(&format!("/api/v1/id-tokens/{}", encode(&id_token)))?;
            c.show_object(&v)
        }
        Request::Transactions { station, limit } => {
            let mut path = format!("/api/v1/transactions?limit={limit}");
            if let Some(s) = station {
                path.push_str(&format!("&stationId={}", encode(&s)));
            }
            c.list(
                &path,
                &[
                    ("TRANSACTION", "/transactionId"),
                    ("STATION", "/stationId"),
                    ("EVSE", "/evseId"),
                    ("ID TOKEN", "/idToken"),
                    ("STARTED", "/startedAt"),
                    ("STOPPED", "/stoppedAt"),
                    ("ENERGY WH", "/energyWh"),
                    ("REASON", "/stopReason"),
                ],
            )
        }
    }
}

fn command_summary(c: &Client, v: &Value) -> anyhow::Result<()> {
    if c.json {
        return c.show_object(v);
    }
    let record: CommandView = view(v);
    let outcome = record.outcome.unwrap_or_default();
    println!(
        "{} {} on {}: {}{}",
        record.id,
        record.command.name,
        record.station_id,
        record.status,
        outcome
            .status
            .map(|s| format!(" ({s})"))
            .unwrap_or_default()
    );
    if let Some(r) = outcome.reason {
        println!("reason: {r}");
    }
    if !outcome.rest.is_empty() {
        println!("{}", serde_json::to_string_pretty(&outcome.rest)?);
    }
    if let Some(e) = record.error {
        println!("error: {e}");
    }
    Ok(())
}

/// Follows the event stream, one line per event (or the event's JSON with `--json`).
fn tail(c: &Client, a: EventArgs) -> anyhow::Result<()> {
    let mut query = Vec::new();
    if let Some(s) = a.station {
        query.push(format!("stationId={}", encode(&s)));
    }
    if let Some(t) = a.kind {
        query.push(format!("type={}", encode(&t)));
    }
    let path = format!("/api/v1/events?{}", query.join("&"));
    let mut req = c.http.get(format!("{}{path}", c.base));
    if let Some(t) = &c.token {
        req = req.bearer_auth(t);
    }
    let res = req.send().with_context(|| format!("reaching {}", c.base))?;
    if !res.status().is_success() {
        let status = res.status();
        let v: Value = serde_json::from_str(&res.text().unwrap_or_default()).unwrap_or_default();
        let detail = ProblemView::detail(&v, "the server refused the stream");
        bail!("{detail} ({status})");
    }
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(res).lines() {
        let line = line.context("reading the event stream")?;
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let e: Value = serde_json::from_str(data.trim()).unwrap_or(Value::Null);
        if c.json {
            writeln!(out, "{}", e)?;
        } else {
            let EventView {
                at,
                kind,
                station_id,
                rest,
                ..
            } = view(&e);
            let (at, kind, station) = (cell(&at), cell(&kind), cell(&station_id));
            let fields: Vec<String> = rest
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{k}={}", cell(v)))
                .collect();
            writeln!(out, "{at}  {station:12}  {kind:20}  {}", fields.join(" "))?;
        }
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_read_json_values_and_fall_back_to_text() {
        let v = params(&[
            "kind=Immediate".into(),
            "evseId=1".into(),
            "extended=true".into(),
        ])
        .expect("pairs");
        assert_eq!(
            Value::Object(v),
            json!({"kind": "Immediate", "evseId": 1, "extended": true})
        );
        assert!(params(&["novalue".into()]).is_err());
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![json!({"a": "x", "b": 1}), json!({"a": "longer", "b": null})];
        assert_eq!(
            table(&rows, &[("A", "/a"), ("B", "/b")]),
            "A       B\nx       1\nlonger\n"
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode("CS 1/ä"), "CS%201%2F%C3%A4");
    }
}
