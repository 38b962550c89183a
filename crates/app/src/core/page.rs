//! Paginated lists: the `?limit=&cursor=` every growing list takes, the opaque cursor, and the
//! `{"items": [...], "next": <cursor|null>}` answer. Pages are keyset pages run in SQL
//! (`pw_store::PageAfter`), so a row deleted between pages neither repeats a row nor skips one,
//! and the visibility filter runs in the same query, so a page never betrays hidden rows — not
//! even by being short.
//!
//! Threat: a cursor is caller input. It only names a position in the sort order (the last
//! row's sort key); it grants nothing, and anything that does not decode is a 400.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pw_policy::Visibility;
use pw_store::{OwnerFilter, PageAfter, PrinterFilter};
use serde::{Deserialize, Serialize};

use crate::AppError;

/// Rows per page when the caller does not say.
pub const DEFAULT_LIMIT: i64 = 50;
/// The most rows one page may carry.
pub const MAX_LIMIT: i64 = 500;

/// `?limit=&cursor=` as received.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Rows per page (1–500, default 50).
    #[serde(default)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next: Option<String>,
}

/// The lists that page: a cursor of one list is refused by another.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Listing {
    Printers,
    Users,
    Webhooks,
    Audit,
    ApiKeys,
    CameraTokens,
    Archives,
    LibraryFiles,
    QueueItems,
    Projects,
}

impl Listing {
    const fn tag(self) -> &'static str {
        match self {
            Listing::Printers => "p1",
            Listing::Users => "u1",
            Listing::Webhooks => "w1",
            Listing::Audit => "a1",
            Listing::ApiKeys => "k1",
            Listing::CameraTokens => "c1",
            Listing::Archives => "r1",
            Listing::LibraryFiles => "l1",
            Listing::QueueItems => "q1",
            Listing::Projects => "j1",
        }
    }
}

/// A parsed page request.
#[derive(Debug, Clone)]
pub(crate) struct PageRequest {
    pub(crate) limit: i64,
    pub(crate) after: Option<(String, i64)>,
}

impl PageRequest {
    /// Parses `?limit=&cursor=` for one list: a limit out of range or a cursor that does not
    /// decode (tampered, truncated, another list's) is a 400 in plain words.
    pub(crate) fn parse(listing: Listing, p: &PageParams) -> Result<Self, AppError> {
        let limit = match p.limit.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}."
                    ))
                })?,
        };
        let after = match p.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode(listing, c).ok_or_else(|| {
                AppError::BadRequest(
                    "The page cursor is not valid; start again from the first page.".into(),
                )
            })?),
        };
        Ok(Self { limit, after })
    }

    /// The store's page: one row more than shown, to know whether another page follows.
    pub(crate) fn store(&self) -> PageAfter {
        PageAfter {
            after: self.after.clone(),
            fetch: self.limit + 1,
        }
    }

    /// Cuts the fetched rows to the page and makes the cursor of its last row.
    pub(crate) fn finish<R>(
        &self,
        listing: Listing,
        mut rows: Vec<R>,
        key: impl Fn(&R) -> (String, i64),
    ) -> (Vec<R>, Option<String>) {
        let shown = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let more = rows.len() > shown;
        rows.truncate(shown);
        let next = if more {
            rows.last().map(|r| encode(listing, &key(r)))
        } else {
            None
        };
        (rows, next)
    }
}

impl PageRequest {
    /// The cursor of a position in a list's order (a page that ended elsewhere than at its
    /// last row: the archive's short-text search window).
    pub(crate) fn cursor(listing: Listing, key: &(String, i64)) -> String {
        encode(listing, key)
    }
}

fn encode(listing: Listing, (key, id): &(String, i64)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}:{key}", listing.tag()))
}

fn decode(listing: Listing, cursor: &str) -> Option<(String, i64)> {
    if cursor.len() > 2048 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix(listing.tag())?.strip_prefix(':')?;
    let (id, key) = rest.split_once(':')?;
    let id = id.parse::<i64>().ok().filter(|i| *i > 0)?;
    Some((key.to_owned(), id))
}

/// The store filter for an owned-row visibility (API keys, camera tokens). These rows are bound
/// to no printer, so a printer set reaches none of them.
pub(crate) fn owner_filter(v: &Visibility) -> OwnerFilter {
    match v {
        Visibility::All => OwnerFilter::All,
        Visibility::Own(user) => OwnerFilter::Only(user.get()),
        Visibility::None | Visibility::Printers(_) => OwnerFilter::Nothing,
    }
}

/// The store filter for a printer visibility.
pub(crate) fn printer_filter(v: Visibility) -> PrinterFilter {
    match v {
        Visibility::All => PrinterFilter::All,
        // Printers have no owner: an owner filter reaches none of them.
        Visibility::None | Visibility::Own(_) => PrinterFilter::Nothing,
        Visibility::Printers(set) => {
            let (everywhere, printers, locations) = match set.reach {
                None => (true, Vec::new(), Vec::new()),
                Some((p, l)) => (
                    false,
                    p.into_iter().map(pw_domain::PrinterId::get).collect(),
                    l.into_iter().map(pw_domain::LocationId::get).collect(),
                ),
            };
            PrinterFilter::Set {
                everywhere,
                printers,
                locations,
                within: set
                    .within
                    .map(|w| w.into_iter().map(pw_domain::PrinterId::get).collect()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: Option<&str>, cursor: Option<&str>) -> PageParams {
        PageParams {
            limit: limit.map(str::to_owned),
            cursor: cursor.map(str::to_owned),
        }
    }

    #[test]
    fn limits_out_of_range_are_refused() {
        for bad in ["0", "501", "-1", "ten", "1e3"] {
            assert!(PageRequest::parse(Listing::Users, &params(Some(bad), None)).is_err());
        }
        let p = PageRequest::parse(Listing::Users, &params(None, None)).unwrap();
        assert_eq!(p.limit, DEFAULT_LIMIT);
        let p = PageRequest::parse(Listing::Users, &params(Some("500"), None)).unwrap();
        assert_eq!(p.limit, 500);
    }

    #[test]
    fn cursors_round_trip_and_tampering_is_refused() {
        let c = encode(Listing::Printers, &("a:b name".into(), 7));
        let p = PageRequest::parse(Listing::Printers, &params(None, Some(&c))).unwrap();
        assert_eq!(p.after, Some(("a:b name".into(), 7)));
        // Another list's cursor, garbage, a flipped character.
        assert!(PageRequest::parse(Listing::Users, &params(None, Some(&c))).is_err());
        assert!(PageRequest::parse(Listing::Printers, &params(None, Some("%%%"))).is_err());
        let mut flipped = c.clone().into_bytes();
        flipped[0] = b'Z';
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(PageRequest::parse(Listing::Printers, &params(None, Some(&flipped))).is_err());
    }
}
