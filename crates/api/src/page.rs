//! Keyset pagination: a page of items and the cursor of the next one.
//!
//! A cursor names the last item seen (its insertion order, or its id), never an offset, so a
//! page holds the same items however many are added meanwhile. Cursors are opaque to callers.

use arus_domain::store::{RecordQuery, StoredRecord};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::{ApiState, Problem, store_error};

/// The largest page.
pub(crate) const MAX_LIMIT: u32 = 1000;

/// A page of items.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items` read with `limit`, whose last item has `key`: a full page may have a
    /// next one.
    pub(crate) fn of(items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
        let next_cursor = if items.len() >= limit as usize {
            items.last().map(key)
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

/// An item of a keyset-paged list, with the place that is its cursor.
#[derive(Debug, Serialize)]
pub(crate) struct Placed<T> {
    #[serde(flatten)]
    pub item: T,
    #[serde(skip)]
    pub seq: i64,
}

impl<T> Page<Placed<T>> {
    /// A page of items in store order (`seq`), read with `limit`.
    pub(crate) fn placed(items: impl IntoIterator<Item = (i64, T)>, limit: u32) -> Self {
        let items: Vec<Placed<T>> = items
            .into_iter()
            .map(|(seq, item)| Placed { item, seq })
            .collect();
        Page::of(items, limit, |p| p.seq.to_string())
    }
}

/// The answer to a list of the store's records: the page of those `query` selects, each as
/// `show` makes it (one it cannot make is left out).
pub(crate) async fn records<T: Serialize>(
    state: &ApiState,
    query: RecordQuery,
    show: impl Fn(&StoredRecord) -> Option<T>,
) -> Result<Response, Problem> {
    let limit = query.limit;
    let rows = state.store.records(query).await.map_err(store_error)?;
    let items = rows
        .iter()
        .filter_map(|r| show(r).map(|item| (r.seq, item)));
    Ok(axum::Json(Page::placed(items, limit)).into_response())
}

/// The `limit` query parameter: 1 to [`MAX_LIMIT`], 100 by default.
pub(crate) fn limit(raw: Option<&str>) -> Result<u32, Problem> {
    match raw {
        None => Ok(100),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| Problem::bad_request(format!("`limit` must be 1 to {MAX_LIMIT}"))),
    }
}

/// A boolean query parameter (`true` or `false`), if given.
pub(crate) fn flag(name: &str, raw: Option<&str>) -> Result<Option<bool>, Problem> {
    match raw {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(Problem::bad_request(format!(
            "`{name}` must be true or false"
        ))),
    }
}

/// The query parameters of a page whose cursor is an insertion order (`seq`). A list takes
/// them beside its own filters: `params(Filters, PageQuery)` in its path, and a `Query` of
/// each (neither refuses the other's parameters).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    #[param(pattern = "^-?[0-9]{1,19}$")]
    cursor: Option<String>,
}

impl PageQuery {
    /// The page size: see [`limit`].
    pub fn limit(&self) -> Result<u32, Problem> {
        limit(self.limit.as_deref())
    }

    /// The place the page starts before: see [`seq_cursor`].
    pub fn before(&self) -> Result<Option<i64>, Problem> {
        seq_cursor(self.cursor.as_deref())
    }
}

/// A numeric cursor.
pub(crate) fn seq_cursor(raw: Option<&str>) -> Result<Option<i64>, Problem> {
    raw.map(|c| {
        c.parse::<i64>()
            .map_err(|_| Problem::bad_request("`cursor` is not one this API gave"))
    })
    .transpose()
}
