//! Nothing acknowledged is lost: stations start and stop transactions as fast as they can, the
//! server is killed with SIGKILL mid-stream and restarted, and every transaction start and stop
//! a station got an answer for is there, with the right energy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::both;
use crate::common::{Backend, Server, Station, now, transactions};

both!(acknowledged_transactions_survive_sigkill);

/// What stations were told: transaction id → (meter start, meter stop if its stop was
/// acknowledged).
type Acked = Arc<Mutex<HashMap<(String, String), (f64, Option<f64>)>>>;

async fn run_station(server_url_station: (Station, String), acked: Acked) {
    let (mut st, id) = server_url_station;
    let mut meter = 1000.0_f64;
    for n in 0.. {
        let start_wh = meter;
        let tx = if st.version == "1.6" {
            let r = st.try_call("StartTransaction", json!({"connectorId": 1, "idTag": "T", "meterStart": start_wh as i64, "timestamp": now()})).await;
            let Some(r) = r else { return };
            r["transactionId"].to_string()
        } else {
            let tx = format!("{id}-{n}");
            let ev = json!({"eventType": "Started", "timestamp": now(), "triggerReason": "CablePluggedIn", "seqNo": 0,
                "transactionInfo": {"transactionId": tx}, "evse": {"id": 1, "connectorId": 1},
                "meterValue": [{"timestamp": now(), "sampledValue": [{"value": start_wh, "context": "Transaction.Begin"}]}]});
            if st.try_call("TransactionEvent", ev).await.is_none() {
                return;
            }
            format!("\"{tx}\"")
        };
        acked
            .lock()
            .expect("lock")
            .insert((id.clone(), tx.clone()), (start_wh, None));
        meter += 250.0;
        let stopped = if st.version == "1.6" {
            let id_num: i64 = tx.parse().unwrap_or_default();
            st.try_call(
                "StopTransaction",
                json!({"transactionId": id_num, "meterStop": meter as i64, "timestamp": now()}),
            )
            .await
        } else {
            let ev = json!({"eventType": "Ended", "timestamp": now(), "triggerReason": "EVCommunicationLost", "seqNo": 1,
                "transactionInfo": {"transactionId": tx.trim_matches('"'), "stoppedReason": "EVDisconnected"},
                "meterValue": [{"timestamp": now(), "sampledValue": [{"value": meter, "context": "Transaction.End"}]}]});
            st.try_call("TransactionEvent", ev).await
        };
        if stopped.is_none() {
            return;
        }
        acked
            .lock()
            .expect("lock")
            .insert((id.clone(), tx), (start_wh, Some(meter)));
    }
}

impl Station {
    /// A CALL whose answer may never come (the server is killed): `None` then.
    async fn try_call(&mut self, action: &str, payload: Value) -> Option<Value> {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::protocol::Message;
        let id = format!("d{}", crate::common::unique());
        let text = json!([2, id, action, payload]).to_string();
        self.ws.send(Message::text(text)).await.ok()?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).ok()?;
                    assert_eq!(v[0], json!(3), "{v}");
                    assert_eq!(v[1], json!(id));
                    return Some(v[2].clone());
                }
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }
}

async fn acknowledged_transactions_survive_sigkill(b: &Backend) {
    let mut server = Server::start(b, &[]).await;
    let acked: Acked = Arc::default();
    let mut tasks = Vec::new();
    let mut ids = Vec::new();
    for i in 0..24 {
        let id = format!("DUR-{i}");
        server.register(&id, None).await;
        let version = if i % 2 == 0 { "1.6" } else { "2.0.1" };
        let st = Station::open(&server, &id, None, version).await;
        ids.push(id.clone());
        tasks.push(tokio::spawn(run_station((st, id), acked.clone())));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    for t in tasks {
        let _ = t.await;
    }
    server.restart().await;
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() > 100, "the stations got going: {}", acked.len());
    let mut stored: HashMap<(String, String), Value> = HashMap::new();
    for id in &ids {
        for t in transactions(&server, id).await {
            stored.insert((id.clone(), t["transactionId"].to_string()), t);
        }
    }
    let mut stops = 0;
    for ((station, tx), (start, stop)) in &acked {
        let t = stored
            .get(&(station.clone(), tx.clone()))
            .unwrap_or_else(|| panic!("acknowledged start of {tx} on {station} is lost"));
        assert_eq!(t["meterStartWh"], json!(start), "{t}");
        if let Some(stop) = stop {
            stops += 1;
            assert_eq!(t["meterStopWh"], json!(stop), "acknowledged stop lost: {t}");
            assert_eq!(t["energyWh"], json!(stop - start), "{t}");
        }
    }
    assert!(stops > 50, "stops acknowledged: {stops}");
    // 1.6 transaction ids keep growing after the restart: no id is handed out twice.
    let mut st = Station::open(&server, "DUR-0", None, "1.6").await;
    let r = st
        .call(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "T", "meterStart": 1, "timestamp": now()}),
        )
        .await
        .ok();
    let fresh = r["transactionId"].to_string();
    assert!(
        !stored.contains_key(&("DUR-0".to_string(), fresh.clone())),
        "id {fresh} reused"
    );
}
