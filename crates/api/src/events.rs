//! `/api/v1/events`: everything that happens, as Server-Sent Events, filtered by station and
//! event type, resumable with `Last-Event-ID`.
//!
//! Each SSE event has the bus's event id as `id`, the event's type as `event`, and the event
//! as JSON `data`. A client that reconnects with `Last-Event-ID` gets the events it missed as
//! long as the journal still holds them; otherwise the stream starts with a `gap` event.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;

use arus_domain::events::{Event, EventBus, Stamped};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::{ApiState, Problem};

/// Which events.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct EventQuery {
    /// Only these stations' events (comma-separated ids).
    #[param(min_length = 1, pattern = "[^,\\s]")]
    station_id: Option<String>,
    /// Only events of these types (comma-separated): `stationConnected`,
    /// `stationDisconnected`, `boot`, `statusChanged`, `transaction`, `meterValues`, `command`,
    /// `firmwareStatus`, `logStatus`, `securityEvent`, `chargingNeeds`, `notice`.
    #[param(
        pattern = "^(stationConnected|stationDisconnected|boot|statusChanged|transaction|meterValues|command|firmwareStatus|logStatus|securityEvent|chargingNeeds|notice)(,(stationConnected|stationDisconnected|boot|statusChanged|transaction|meterValues|command|firmwareStatus|logStatus|securityEvent|chargingNeeds|notice))*$"
    )]
    r#type: Option<String>,
    /// Resume after this event id (as the `Last-Event-ID` header does).
    #[param(value_type = Option<i64>, minimum = 0)]
    last_event_id: Option<String>,
}

/// Which events a subscriber wants.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    stations: Option<HashSet<String>>,
    types: Option<HashSet<String>>,
}

impl Filter {
    pub(crate) fn parse(stations: Option<&str>, types: Option<&str>) -> Result<Filter, Problem> {
        let list = |s: &str| -> HashSet<String> {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let stations = stations.map(list);
        let types = types.map(list);
        if stations.as_ref().is_some_and(|s| s.is_empty())
            || types.as_ref().is_some_and(|t| t.is_empty())
        {
            return Err(Problem::bad_request(
                "`stationId` and `type` name at least one station or type when given",
            ));
        }
        if let Some(t) = &types
            && let Some(bad) = t.iter().find(|t| !Event::KINDS.contains(&t.as_str()))
        {
            return Err(Problem::bad_request(format!(
                "unknown event type `{bad}`; the types are {}",
                Event::KINDS.join(", ")
            )));
        }
        Ok(Filter { stations, types })
    }

    pub(crate) fn matches(&self, e: &Event) -> bool {
        self.stations
            .as_ref()
            .is_none_or(|s| s.contains(e.station_id()))
            && self.types.as_ref().is_none_or(|t| t.contains(e.kind()))
    }
}

/// The live event stream.
#[utoipa::path(get, operation_id = "streamEvents", path = "/api/v1/events", tag = "events",
    params(EventQuery, ("Last-Event-ID" = Option<i64>, Header, minimum = 0,
        description = "Resume after this event id (browsers send it when they reconnect)")),
    responses(
        (status = 200, content_type = "text/event-stream",
            description = "Server-Sent Events: `id` the event id, `event` its type, `data` the event as JSON; a `revoked` event ends the stream when its token is revoked"),
        crate::openapi::Errors))]
pub(crate) async fn stream(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<crate::Caller>,
    Query(q): Query<EventQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let filter = Filter::parse(q.station_id.as_deref(), q.r#type.as_deref())?;
    let id = |name: &str, v: Option<&str>| -> Result<Option<u64>, Problem> {
        match v.map(str::trim) {
            None => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .ok()
                .and_then(|n| u64::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| Problem::bad_request(format!("`{name}` is not an event id"))),
        }
    };
    let header = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("?"));
    // Both are checked; the header (what browsers send on reconnection) wins.
    let from_header = id("Last-Event-ID", header)?;
    let from_query = id("lastEventId", q.last_event_id.as_deref())?;
    let last = from_header.or(from_query);
    let bus = state.csms.events().clone();
    // Subscribe before reading the journal, so nothing falls between the two.
    let rx = bus.subscribe();
    let start = last.or_else(|| bus.last_id());
    let from_journal = last.is_some();
    let guard = Guard {
        store: state.store.clone(),
        hash: caller.hash,
        revoked: Some(state.revocations.watch()),
        next_check: tokio::time::Instant::now() + RECHECK,
    };
    let s = follow(bus, rx, start, from_journal, filter, guard);
    Ok(Sse::new(s).keep_alive(KeepAlive::default()).into_response())
}

/// How often an open stream checks that its token was not revoked (at once when it is revoked
/// on this node).
pub(crate) const RECHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// What ends a stream: its token revoked.
struct Guard {
    store: Arc<dyn arus_domain::store::Store>,
    hash: String,
    revoked: Option<tokio::sync::watch::Receiver<u64>>,
    next_check: tokio::time::Instant,
}

impl Guard {
    /// Waits until the token may have been revoked (a revocation here, or time for a check).
    async fn wait(&mut self) {
        let revoked = async {
            match &mut self.revoked {
                Some(r) => {
                    if r.changed().await.is_err() {
                        // No more notices: the periodic check remains.
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = revoked => {}
            () = tokio::time::sleep_until(self.next_check) => {}
        }
    }

    /// Whether the token is revoked (or gone); a store that cannot answer does not end the
    /// stream.
    async fn token_revoked(&mut self) -> bool {
        self.next_check = tokio::time::Instant::now() + RECHECK;
        match self.store.api_token(&self.hash).await {
            Ok(Some(t)) => t.revoked_at.is_some(),
            Ok(None) => true,
            Err(_) => false,
        }
    }
}

struct Follow {
    guard: Guard,
    ended: bool,
    bus: EventBus,
    rx: broadcast::Receiver<Arc<Stamped>>,
    last: Option<u64>,
    ready: VecDeque<Arc<Stamped>>,
    filter: Filter,
    check_gap: bool,
}

/// The events after `last` that pass the filter, forever.
fn follow(
    bus: EventBus,
    rx: broadcast::Receiver<Arc<Stamped>>,
    last: Option<u64>,
    check_gap: bool,
    filter: Filter,
    guard: Guard,
) -> impl Stream<Item = Result<sse::Event, Infallible>> {
    let state = Follow {
        guard,
        ended: false,
        bus,
        rx,
        last,
        ready: VecDeque::new(),
        filter,
        check_gap,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.ended {
            return None;
        }
        loop {
            if let Some(e) = st.ready.pop_front() {
                st.last = Some(e.id);
                if !st.filter.matches(&e.event) {
                    continue;
                }
                let data = serde_json::to_string(&e).unwrap_or_default();
                let event = sse::Event::default()
                    .id(e.id.to_string())
                    .event(e.event.kind())
                    .data(data);
                return Some((Ok(event), st));
            }
            let (events, missed) = st.bus.since(st.last, 1024);
            if std::mem::take(&mut st.check_gap) && missed {
                let gap = sse::Event::default().event("gap").data(
                    r#"{"detail":"events after the given id are no longer kept; the stream goes on from the oldest kept"}"#,
                );
                st.ready.extend(events);
                return Some((Ok(gap), st));
            }
            if events.is_empty() {
                // Wait for the next publication (the journal says what it was), or for the
                // token to be revoked.
                tokio::select! {
                    r = st.rx.recv() => match r {
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    () = st.guard.wait() => {
                        if st.guard.token_revoked().await {
                            st.ended = true;
                            let end = sse::Event::default().event("revoked").data(
                                r#"{"detail":"the token of this stream was revoked; the stream ends"}"#,
                            );
                            return Some((Ok(end), st));
                        }
                    }
                }
            } else {
                st.ready.extend(events);
            }
        }
    })
}
