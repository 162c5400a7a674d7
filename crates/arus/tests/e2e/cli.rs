//! The operator's command line against a running server: tables by default, the API's JSON
//! with `--json`, a clear error and exit status 1 when the server refuses.

use std::process::Command;

use serde_json::{Value, json};

use crate::both;
use crate::common::{Backend, Server, TOKEN};

both!(the_cli_drives_a_running_server);

fn arus(server: &Server, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arus"))
        .args(args)
        .env("ARUS_SERVER", format!("http://{}", server.addr))
        .env("ARUS_TOKEN", token)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("arus runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn the_cli_drives_a_running_server(b: &Backend) {
    let server = Server::start(b, &[]).await;
    // Blocking child processes: off the async threads.
    let run = |token: &'static str, args: Vec<&'static str>| {
        let server = &server;
        tokio::task::block_in_place(|| arus(server, token, &args))
    };
    let (code, out, _) = run(
        TOKEN,
        vec!["stations", "add", "CLI-1", "--boot-policy", "Pending"],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("bootPolicy") && out.contains("Pending"),
        "{out}"
    );

    let (code, out, _) = run(TOKEN, vec!["stations", "list"]);
    assert_eq!(code, 0);
    let mut lines = out.lines();
    let header = lines.next().expect("a header");
    assert!(
        header.starts_with("ID") && header.contains("CONNECTED"),
        "{out}"
    );
    assert!(
        lines.any(|l| l.starts_with("CLI-1") && l.contains("false")),
        "{out}"
    );

    let (code, out, _) = run(TOKEN, vec!["stations", "list", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(v["items"][0]["id"], json!("CLI-1"));

    // A command to a station that is not connected: the API's problem, exit status 1.
    let (code, _, err) = run(TOKEN, vec!["command", "CLI-1", "reset", "kind=Immediate"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: station `CLI-1` is not connected"),
        "{err}"
    );
    let (code, out, _) = run(
        TOKEN,
        vec![
            "command",
            "CLI-1",
            "reset",
            "kind=OnIdle",
            "--queue-for",
            "60",
        ],
    );
    assert_eq!(code, 0);
    assert!(out.contains("reset on CLI-1: queued"), "{out}");
    let (code, out, _) = run(
        TOKEN,
        vec!["commands", "list", "--station", "CLI-1", "--json"],
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let statuses: Vec<&str> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["queued", "notDelivered"]);

    // Tokens: made, listed, revoked; a read-only token cannot command.
    let (code, out, _) = run(
        TOKEN,
        vec!["tokens", "create", "viewer", "read-only", "--json"],
    );
    assert_eq!(code, 0);
    let made: Value = serde_json::from_str(&out).expect("JSON");
    let viewer: &'static str = Box::leak(
        made["token"]
            .as_str()
            .expect("the token is shown once")
            .to_string()
            .into_boxed_str(),
    );
    let id: &'static str = Box::leak(
        made["id"]
            .as_str()
            .expect("id")
            .to_string()
            .into_boxed_str(),
    );
    let (code, _, err) = run(viewer, vec!["command", "CLI-1", "clearCache"]);
    assert_eq!(code, 1);
    assert!(err.contains("operator"), "{err}");
    let (code, out, _) = run(TOKEN, vec!["tokens", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with(id) && l.contains("read-only")),
        "{out}"
    );
    let (code, _, _) = run(TOKEN, vec!["tokens", "revoke", id]);
    assert_eq!(code, 0);
    let (code, _, err) = run(viewer, vec!["stations", "list"]);
    assert_eq!(code, 1);
    assert!(err.contains("401"), "{err}");

    // Id tokens.
    let (code, _, _) = run(
        TOKEN,
        vec!["id-tokens", "add", "CARD-7", "--group", "FLEET"],
    );
    assert_eq!(code, 0);
    let (code, out, _) = run(TOKEN, vec!["id-tokens", "show", "card-7", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["groupIdToken"], json!("FLEET"));

    // Sites and load management: a site from a file, its division for hypothetical sessions,
    // and a station's composite schedule.
    let dir = tempfile::tempdir().expect("a directory");
    let site = dir.path().join("site.json");
    let body = json!({"id": "depot", "groups": [{"id": "grid", "phaseLimitsA": [40, 40, 40]}],
        "evses": [{"stationId": "CLI-1", "evseId": 1, "group": "grid"},
                  {"stationId": "CLI-1", "evseId": 2, "group": "grid", "maxCurrentA": 16}]});
    std::fs::write(&site, body.to_string()).expect("written");
    let sessions = dir.path().join("sessions.json");
    let body = json!({"sessions": [{"stationId": "CLI-1", "evseId": 1}, {"stationId": "CLI-1", "evseId": 2}]});
    std::fs::write(&sessions, body.to_string()).expect("written");
    let site: &'static str = Box::leak(site.display().to_string().into_boxed_str());
    let sessions: &'static str = Box::leak(sessions.display().to_string().into_boxed_str());
    let (code, _, err) = run(TOKEN, vec!["sites", "put", site]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(TOKEN, vec!["sites", "list"]);
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.starts_with("depot")), "{out}");
    let (code, out, _) = run(TOKEN, vec!["sites", "preview", "depot", sessions]);
    assert_eq!(code, 0);
    // The EVSE of 16 A takes its maximum; the other takes the remaining 24 A.
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert!(
        rows[0].contains(" 24.0 ") && rows[0].contains("groupLimit"),
        "{out}"
    );
    assert!(
        rows[1].contains(" 16.0 ") && rows[1].contains("evseOrCar"),
        "{out}"
    );
    let (code, out, _) = run(
        TOKEN,
        vec!["charging", "composite", "CLI-1", "--duration", "60"],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("FROM (s)"), "{out}");
    let (code, out, _) = run(TOKEN, vec!["charging", "profiles", "CLI-1", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["items"], json!([]));
    let (code, _, err) = run(TOKEN, vec!["sites", "show", "nowhere"]);
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
    // No car charging: an empty plan; needs for a transaction that does not exist: refused.
    let (code, out, _) = run(TOKEN, vec!["sites", "plan", "depot", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (v["siteId"].clone(), v["plans"].clone()),
        (json!("depot"), json!([]))
    );
    let later = (chrono::Utc::now() + chrono::TimeDelta::hours(2)).to_rfc3339();
    let later: &'static str = Box::leak(later.into_boxed_str());
    let (code, _, err) = run(
        TOKEN,
        vec![
            "sites",
            "needs",
            "CLI-1",
            "404",
            "--energy-wh",
            "1000",
            "--departure",
            later,
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("404") && err.contains("no transaction"),
        "{err}"
    );
}
