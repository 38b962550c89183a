//! The home page's farm at a glance (issue 18): how many printers are printing, paused,
//! waiting for their plate to be cleared, failed, offline, with a changed certificate or idle;
//! the prints finishing next with their end time; the next jobs in the queue; recent failures
//! with their reason in words; filament running low. `static/js/home.js` keeps the counts live
//! over the events socket.
//!
//! Invariant: every list comes from the use case that already applies the viewer's visibility
//! in SQL (`list_printers`, `list_queue`, `list_archives`); a section the viewer may not read
//! (a refused use case) is simply absent, never filtered here or in the template.

use pw_app::{
    Actor, App, AppError, ArchiveQuery, Glance, PrinterView, QueueItemView, QueueListQuery,
};

use super::printers::{LOW_FILAMENT_PERCENT, done_words, minutes_words, tray_cell};

/// How many entries each list shows.
const LIST_LEN: usize = 5;

/// One count.
pub(crate) struct Count {
    pub(crate) glance: &'static str,
    pub(crate) words: &'static str,
    pub(crate) n: usize,
}

/// A print finishing soon.
pub(crate) struct Finishing {
    pub(crate) printer: String,
    pub(crate) job: String,
    pub(crate) time_left: String,
    pub(crate) ends_ms: String,
    pub(crate) done: String,
}

/// A job waiting in the queue.
pub(crate) struct Queued {
    pub(crate) file: String,
    pub(crate) target: String,
    pub(crate) waiting: String,
}

/// A recent failure.
pub(crate) struct Failure {
    pub(crate) id: i64,
    pub(crate) printer: String,
    pub(crate) file: String,
    pub(crate) reason: String,
    pub(crate) ended_at: String,
}

/// A spool running low.
pub(crate) struct Low {
    pub(crate) printer: String,
    pub(crate) label: String,
    pub(crate) remain: String,
}

/// The farm at a glance, for a viewer who may read printers.
pub(crate) struct Farm {
    pub(crate) total: usize,
    pub(crate) counts: Vec<Count>,
    pub(crate) finishing: Vec<Finishing>,
    /// `None`: the viewer may not read the queue.
    pub(crate) queue: Option<Vec<Queued>>,
    /// `None`: the viewer may not read the archive.
    pub(crate) failures: Option<Vec<Failure>>,
    pub(crate) low: Vec<Low>,
}

fn finishing(printers: &[PrinterView]) -> Vec<Finishing> {
    let mut running: Vec<(&PrinterView, i64, u32)> = printers
        .iter()
        .filter_map(|p| {
            let ends = p.ends_at_ms?;
            let minutes = p.status.as_ref()?.remaining_minutes?;
            Some((p, ends, minutes))
        })
        .collect();
    running.sort_by_key(|(p, ends, _)| (*ends, p.name.to_lowercase()));
    running
        .into_iter()
        .take(LIST_LEN)
        .map(|(p, ends, minutes)| Finishing {
            printer: p.name.clone(),
            job: p
                .status
                .as_ref()
                .and_then(|s| s.job_name.clone())
                .unwrap_or_default(),
            time_left: minutes_words(minutes),
            ends_ms: ends.to_string(),
            done: done_words(ends),
        })
        .collect()
}

fn low_filament(printers: &[PrinterView]) -> Vec<Low> {
    let mut low: Vec<(i64, Low)> = printers
        .iter()
        .filter_map(|p| Some((p, p.status.as_ref()?)))
        .flat_map(|(p, s)| {
            s.trays
                .iter()
                .chain(s.external_spool.iter())
                .filter(|t| !t.material.is_empty())
                .filter_map(move |t| {
                    let remain = t.remain.filter(|r| *r <= LOW_FILAMENT_PERCENT)?;
                    let cell = tray_cell(t);
                    Some((
                        remain,
                        Low {
                            printer: p.name.clone(),
                            label: cell.label,
                            remain: cell.remain,
                        },
                    ))
                })
        })
        .collect();
    low.sort_by_key(|(r, l)| (*r, l.printer.to_lowercase()));
    low.into_iter().take(LIST_LEN * 2).map(|(_, l)| l).collect()
}

fn queue_target(item: &QueueItemView, printers: &[PrinterView]) -> String {
    let t = &item.target;
    if let Some(id) = t.printer_id {
        return printers
            .iter()
            .find(|p| p.id.get() == id)
            .map_or_else(|| "A printer you cannot see".to_owned(), |p| p.name.clone());
    }
    if let Some(model) = &t.model {
        return format!("Any {model} printer");
    }
    if t.location_id.is_some() {
        return "Any printer in a location".to_owned();
    }
    if t.group_id.is_some() {
        return "Any printer in a printer group".to_owned();
    }
    "Its printer or location was removed".to_owned()
}

impl Farm {
    /// The farm as `actor` may see it; `Ok(None)` when they may not read printers.
    pub(crate) async fn load(app: &App, actor: &Actor) -> Result<Option<Self>, AppError> {
        let printers = match app.list_printers(actor).await {
            Ok(p) => p,
            Err(AppError::Forbidden) => return Ok(None),
            Err(e) => return Err(e),
        };
        let counts = Glance::ALL
            .iter()
            .map(|g| Count {
                glance: g.as_str(),
                words: g.words(),
                n: printers.iter().filter(|p| p.glance == *g).count(),
            })
            .collect();
        let queue = match app
            .list_queue(
                actor,
                &QueueListQuery {
                    state: Some("queued".into()),
                    limit: Some(LIST_LEN.to_string()),
                    ..QueueListQuery::default()
                },
            )
            .await
        {
            Ok(page) => Some(
                page.items
                    .iter()
                    .map(|item| Queued {
                        file: format!("{} (plate {})", item.file_name, item.plate),
                        target: queue_target(item, &printers),
                        waiting: item.waiting_for.clone().unwrap_or_default(),
                    })
                    .collect(),
            ),
            Err(AppError::Forbidden) => None,
            Err(e) => return Err(e),
        };
        let failures = match app
            .list_archives(
                actor,
                &ArchiveQuery {
                    outcome: Some("failed".into()),
                    limit: Some(LIST_LEN.to_string()),
                    ..ArchiveQuery::default()
                },
            )
            .await
        {
            Ok(page) => Some(
                page.items
                    .into_iter()
                    .map(|a| Failure {
                        id: a.id,
                        printer: a.printer_name,
                        file: a.file_name,
                        reason: a
                            .error
                            .unwrap_or_else(|| "The printer gave no reason.".to_owned()),
                        ended_at: a.ended_at.unwrap_or(a.started_at),
                    })
                    .collect(),
            ),
            Err(AppError::Forbidden) => None,
            Err(e) => return Err(e),
        };
        Ok(Some(Self {
            total: printers.len(),
            counts,
            finishing: finishing(&printers),
            queue,
            failures,
            low: low_filament(&printers),
        }))
    }
}
