//! `arus charging ...` and `arus sites ...`: charging profiles and composite schedules of a
//! station, and sites with the division of their capacity, from a running server.

use anyhow::Context;
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Client, encode, items, table};

/// What the CLI reads of a composite schedule.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CompositeOut {
    charging_schedule_period: Vec<Value>,
    station: Option<StationOut>,
}

/// What it reads of the station's answer.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct StationOut {
    status: String,
    matches: Option<bool>,
    differences: Vec<Value>,
}

/// What it reads of a site, and shows in the list.
#[derive(Default, Deserialize)]
#[serde(default)]
struct SiteIn {
    id: String,
    name: Option<String>,
    groups: Vec<Value>,
    evses: Vec<Value>,
}

#[derive(Serialize)]
struct SiteRow {
    id: String,
    name: Option<String>,
    groups: usize,
    evses: usize,
}

/// `arus charging ...`
#[derive(Debug, Subcommand)]
pub(crate) enum Charging {
    /// The charging profiles a station holds, as far as Arus knows.
    Profiles {
        /// The station.
        station: String,
    },
    /// The composite schedule Arus computes for a station (or EVSE) from its profiles.
    Composite {
        /// The station.
        station: String,
        /// The EVSE (1.6: the connector); 0 is the whole station.
        #[arg(long, default_value_t = 0)]
        evse: u32,
        /// From when (RFC 3339); now when not given.
        #[arg(long)]
        start: Option<String>,
        /// For how many seconds.
        #[arg(long, default_value_t = 86_400)]
        duration: i64,
        /// A or W.
        #[arg(long, default_value = "A")]
        unit: String,
        /// Also ask the station for its own and show where they differ.
        #[arg(long)]
        compare: bool,
    },
}

/// `arus sites ...`
#[derive(Debug, Subcommand)]
pub(crate) enum Sites {
    /// Lists sites.
    List,
    /// Shows a site.
    Show {
        /// The site.
        id: String,
    },
    /// Creates a site, or replaces it whole, from a JSON file (`-` for standard input).
    Put {
        /// The file.
        file: String,
    },
    /// Removes a site.
    Delete {
        /// The site.
        id: String,
    },
    /// How the site's capacity is divided among the sessions charging now.
    Allocation {
        /// The site.
        id: String,
    },
    /// How it would be divided among the sessions of a JSON file (`{"sessions": [...]}`, `-`
    /// for standard input).
    Preview {
        /// The site.
        id: String,
        /// The file.
        file: String,
    },
    /// What the site drew, read back from the meter values: each group's peak per phase and
    /// every moment it was above a limit (`--json` for the whole series).
    Load {
        /// The site.
        id: String,
        /// From when (RFC 3339; default a day before `--to`).
        #[arg(long)]
        from: Option<String>,
        /// Until when (RFC 3339; default now).
        #[arg(long)]
        to: Option<String>,
        /// The bucket length in seconds (default 60).
        #[arg(long)]
        step: Option<i64>,
    },
    /// The plan of the cars charging now whose energy and departure are known: each car's
    /// energy by its departure and what it cannot get (`--json` for the current per slot).
    Plan {
        /// The site.
        id: String,
    },
    /// Says what the car of a transaction going on needs: the energy it wants from now by
    /// when it leaves (and the most current it takes, if known).
    Needs {
        /// The station.
        station: String,
        /// The transaction (as the station knows it).
        transaction: String,
        /// The energy it wants from now, Wh.
        #[arg(long)]
        energy_wh: Option<f64>,
        /// When it leaves (RFC 3339).
        #[arg(long)]
        departure: Option<String>,
        /// The most current per phase it takes, A.
        #[arg(long)]
        max_current_a: Option<f64>,
    },
}

fn read(file: &str) -> anyhow::Result<Value> {
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?
    };
    serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))
}

const ALLOCATION: &[(&str, &str)] = &[
    ("STATION", "/stationId"),
    ("EVSE", "/evseId"),
    ("A", "/currentA"),
    ("PHASES", "/sitePhases"),
    ("BINDING", "/binding"),
    ("GROUP", "/group"),
    ("WHY", "/why"),
];

pub(super) fn charging(c: &Client, cmd: Charging) -> anyhow::Result<()> {
    match cmd {
        Charging::Profiles { station } => c.list(
            &format!("/api/v1/stations/{}/charging-profiles", encode(&station)),
            &[
                ("EVSE", "/evseId"),
                ("ID", "/chargingProfile/id"),
                ("PURPOSE", "/chargingProfile/purpose"),
                ("STACK", "/chargingProfile/stackLevel"),
                ("KIND", "/chargingProfile/kind"),
                ("SOURCE", "/source"),
                ("INSTALLED", "/installedAt"),
            ],
        ),
        Charging::Composite {
            station,
            evse,
            start,
            duration,
            unit,
            compare,
        } => {
            let mut path = format!(
                "/api/v1/stations/{}/composite-schedule?evseId={evse}&duration={duration}&unit={}",
                encode(&station),
                encode(&unit)
            );
            if let Some(s) = start {
                path.push_str(&format!("&start={}", encode(&s)));
            }
            if compare {
                path.push_str("&compare=true");
            }
            let v = c.get(&path)?;
            let out: CompositeOut = super::bodies::view(&v);
            c.show(
                &v,
                &out.charging_schedule_period,
                &[
                    ("FROM (s)", "/startPeriod"),
                    ("LIMIT", "/limit"),
                    ("PHASES", "/numberPhases"),
                    ("BINDING", "/binding"),
                ],
            )?;
            if let (false, Some(s)) = (c.json, out.station) {
                println!();
                let matches = s.matches.map_or("unknown".to_string(), |m| m.to_string());
                println!("station: {}, matches: {matches}", s.status);
                if !s.differences.is_empty() {
                    print!(
                        "{}",
                        table(
                            &s.differences,
                            &[
                                ("FROM (s)", "/startPeriod"),
                                ("TO (s)", "/endPeriod"),
                                ("ARUS", "/arus"),
                                ("STATION", "/station"),
                            ]
                        )
                    );
                }
            }
            Ok(())
        }
    }
}

pub(super) fn sites(c: &Client, cmd: Sites) -> anyhow::Result<()> {
    match cmd {
        Sites::List => {
            let v = c.get("/api/v1/sites")?;
            let rows: Vec<Value> = items(&v)
                .iter()
                .map(|s| {
                    let s: SiteIn = super::bodies::view(s);
                    serde_json::to_value(SiteRow {
                        id: s.id,
                        name: s.name,
                        groups: s.groups.len(),
                        evses: s.evses.len(),
                    })
                    .unwrap_or_default()
                })
                .collect();
            c.show(
                &v,
                &rows,
                &[
                    ("ID", "/id"),
                    ("NAME", "/name"),
                    ("GROUPS", "/groups"),
                    ("EVSES", "/evses"),
                ],
            )
        }
        Sites::Show { id } => {
            let Some(v) = c.item("sites", &id)? else {
                return Ok(());
            };
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
        Sites::Put { file } => {
            let v = c.post("/api/v1/sites", &read(&file)?)?;
            c.show_object(&v)
        }
        Sites::Delete { id } => {
            c.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/sites/{}", encode(&id)),
                None,
            )?;
            Ok(())
        }
        Sites::Allocation { id } => {
            let v = c.get(&format!("/api/v1/sites/{}/allocation", encode(&id)))?;
            let rows = v["allocations"].as_array().cloned().unwrap_or_default();
            c.show(&v, &rows, ALLOCATION)
        }
        Sites::Preview { id, file } => {
            let v = c.post(
                &format!("/api/v1/sites/{}/allocation/preview", encode(&id)),
                &read(&file)?,
            )?;
            let rows = v["allocations"].as_array().cloned().unwrap_or_default();
            c.show(&v, &rows, ALLOCATION)
        }
        Sites::Plan { id } => {
            let v = c.get(&format!("/api/v1/sites/{}/plan", encode(&id)))?;
            let rows = v["plans"].as_array().cloned().unwrap_or_default();
            c.show(
                &v,
                &rows,
                &[
                    ("STATION", "/stationId"),
                    ("EVSE", "/evseId"),
                    ("TRANSACTION", "/transactionId"),
                    ("DEPARTURE", "/departure"),
                    ("ENERGY WH", "/energyWh"),
                    ("SHORTFALL WH", "/shortfallWh"),
                ],
            )
        }
        Sites::Needs {
            station,
            transaction,
            energy_wh,
            departure,
            max_current_a,
        } => {
            let mut body = serde_json::Map::new();
            for (name, value) in [
                ("energyWh", energy_wh.map(Value::from)),
                ("departure", departure.map(Value::from)),
                ("maxCurrentA", max_current_a.map(Value::from)),
            ] {
                if let Some(v) = value {
                    body.insert(name.into(), v);
                }
            }
            let v = c.send(
                reqwest::Method::PUT,
                &format!(
                    "/api/v1/stations/{}/transactions/{}/charging-needs",
                    encode(&station),
                    encode(&transaction)
                ),
                Some(&Value::Object(body)),
            )?;
            c.show_object(&v)
        }
        Sites::Load { id, from, to, step } => {
            let mut query = Vec::new();
            for (name, value) in [
                ("from", from),
                ("to", to),
                ("step", step.map(|s| s.to_string())),
            ] {
                if let Some(v) = value {
                    query.push(format!("{name}={}", encode(&v)));
                }
            }
            let path = format!("/api/v1/sites/{}/load?{}", encode(&id), query.join("&"));
            let v = c.get(&path)?;
            let rows = v["groups"].as_array().cloned().unwrap_or_default();
            c.show(
                &v,
                &rows,
                &[
                    ("GROUP", "/groupId"),
                    ("PEAK L1", "/peakA/0"),
                    ("PEAK L2", "/peakA/1"),
                    ("PEAK L3", "/peakA/2"),
                    ("PEAK W", "/peakW"),
                    ("OVER LIMIT", "/excessCount"),
                ],
            )
        }
    }
}
