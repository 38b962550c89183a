//! The notification catalogue: every print, queue and printer event printwarden tells webhooks,
//! push services and mail about, with its stable name, its group, what it carries and who may
//! receive it. `docs/AUDIT-EVENTS.md` (beside the audit events, by the same generator), the
//! webhook filter's validation and the webhook page's checkboxes are all rendered from
//! [`NoticeEvent::ALL`], so the sender, the docs and the UI cannot name different events.
//!
//! Invariants: the names never change (they are a contract between helpers and with every
//! receiver's filter); each occurrence is one [`Notice`] built once where the fact is decided
//! (the print watcher, the queue's transitions, the printer supervisor), never re-derived by a
//! deliverer; a notice names the printer and queue item it is about, so delivery can re-ask
//! policy with the receiver's rights as they are *then*.

use std::fmt::Write;

use pw_domain::{Permission, PrinterId, UserId};
use pw_policy::{Action, Principal, PrinterRef, Target, authorize};
use serde::Serialize;

use crate::core::clock::rfc3339;

/// The groups the webhook page shows the events in (audit events are the fourth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeGroup {
    /// A print's life on a printer.
    Printing,
    /// The queue's dispatcher.
    Queue,
    /// A printer's connection and health.
    Printers,
}

impl NoticeGroup {
    /// The heading on the webhook page.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            NoticeGroup::Printing => "Printing",
            NoticeGroup::Queue => "Queue",
            NoticeGroup::Printers => "Printers",
        }
    }

    /// What receiving the group needs, in words (docs, refusals).
    #[must_use]
    pub const fn needs(self) -> &'static str {
        match self {
            NoticeGroup::Printing | NoticeGroup::Printers => "printers:read on the printer",
            NoticeGroup::Queue => {
                "queue:read_all (or queue:read_own for one's own items) and printers:read on the printer"
            }
        }
    }
}

macro_rules! notice_events {
    ($(
        $variant:ident = $name:literal, $group:ident, $title:literal, $summary:literal,
        priority: $priority:literal, tags: $tags:literal,
        carries: [$($carries:literal),*];
    )*) => {
        /// One kind of notification event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum NoticeEvent {
            $(#[doc = $summary] $variant,)*
        }

        impl NoticeEvent {
            /// Every event, in catalogue order.
            pub const ALL: &'static [NoticeEvent] = &[$(NoticeEvent::$variant),*];

            /// The stable name, e.g. `print.finished`.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self { $(NoticeEvent::$variant => $name,)* }
            }

            /// Its group.
            #[must_use]
            pub const fn group(self) -> NoticeGroup {
                match self { $(NoticeEvent::$variant => NoticeGroup::$group,)* }
            }

            /// A short title (push services' title line, the page's checkbox).
            #[must_use]
            pub const fn title(self) -> &'static str {
                match self { $(NoticeEvent::$variant => $title,)* }
            }

            /// When it fires, in one sentence.
            #[must_use]
            pub const fn summary(self) -> &'static str {
                match self { $(NoticeEvent::$variant => $summary,)* }
            }

            /// ntfy priority (1–5).
            #[must_use]
            pub const fn priority(self) -> u8 {
                match self { $(NoticeEvent::$variant => $priority,)* }
            }

            /// ntfy tags (emoji short codes), comma-separated.
            #[must_use]
            pub const fn tags(self) -> &'static str {
                match self { $(NoticeEvent::$variant => $tags,)* }
            }

            /// The body's keys besides `event`, `at` and `text`.
            #[must_use]
            pub const fn carries(self) -> &'static [&'static str] {
                match self { $(NoticeEvent::$variant => &[$($carries),*],)* }
            }
        }
    };
}

notice_events! {
    PrintStarted = "print.started", Printing, "Print started",
        "A printer started a job (from printwarden, the queue, or its own screen).",
        priority: 3, tags: "arrow_forward", carries: ["printer", "job"];
    PrintPaused = "print.paused", Printing, "Print paused",
        "A running job was paused (by a user or by the printer).",
        priority: 3, tags: "pause_button", carries: ["printer", "job"];
    PrintResumed = "print.resumed", Printing, "Print resumed",
        "A paused job runs again.",
        priority: 3, tags: "arrow_forward", carries: ["printer", "job"];
    PrintFinished = "print.finished", Printing, "Print finished",
        "A job finished; `job.duration_s` is its time when printwarden saw it start.",
        priority: 3, tags: "white_check_mark", carries: ["printer", "job"];
    PrintFailed = "print.failed", Printing, "Print failed",
        "A job failed; `job.error` has the printer's code and `job.error_text` its words.",
        priority: 4, tags: "x", carries: ["printer", "job"];
    PrintStopped = "print.stopped", Printing, "Print stopped",
        "A job was stopped (cancelled) before it finished.",
        priority: 3, tags: "stop_button", carries: ["printer", "job"];
    QueueDispatched = "queue.dispatched", Queue, "Queue item started",
        "The dispatcher sent a queued item to a printer and the printer took it.",
        priority: 3, tags: "inbox_tray", carries: ["printer", "queue_item"];
    QueueFailed = "queue.failed", Queue, "Queue item failed",
        "A queue item was parked as failed (its starts kept failing, or its print failed or was stopped).",
        priority: 4, tags: "warning", carries: ["printer", "queue_item"];
    QueueWaitingForPlate = "queue.waiting_for_plate", Queue, "Plate to clear",
        "A free printer holds up the queue until someone confirms its plate clear (once per wait).",
        priority: 4, tags: "raising_hand", carries: ["printer", "queue_item"];
    PrinterOffline = "printer.offline", Printers, "Printer offline",
        "A printer that was connected is no longer reachable (`reason` says why).",
        priority: 4, tags: "electric_plug", carries: ["printer", "reason"];
    PrinterOnline = "printer.online", Printers, "Printer back online",
        "A printer announced offline is connected again.",
        priority: 2, tags: "signal_strength", carries: ["printer"];
    PrinterCertificateChanged = "printer.certificate_changed", Printers, "Printer certificate changed",
        "A printer presented a certificate other than the pinned one; nothing is sent to it until a user with printers:trust approves it.",
        priority: 5, tags: "rotating_light", carries: ["printer"];
    PrinterHmsError = "printer.hms_error", Printers, "Printer health message",
        "A printer reported a new health (HMS) message; `hms` lists the new codes.",
        priority: 4, tags: "warning", carries: ["printer", "hms"];
}

impl NoticeEvent {
    /// The event with this name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }
}

impl std::fmt::Display for NoticeEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The printer a notice is about.
#[derive(Debug, Clone, Serialize)]
pub struct NoticePrinter {
    /// Id.
    pub id: PrinterId,
    /// Its name when the event happened.
    pub name: String,
    /// Its location (for the receiver's scoped rights; not sent).
    #[serde(skip)]
    pub location: Option<pw_domain::LocationId>,
}

/// The job a print notice is about.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NoticeJob {
    /// The file (or job name) as the printer reports it.
    pub file: String,
    /// printwarden's print job, when printwarden started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub print_job_id: Option<i64>,
    /// Who started it through printwarden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// Seconds from start to this event, when printwarden saw the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<i64>,
    /// The printer's error code `MMMM_EEEE` (failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error in words (failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_text: Option<String>,
}

/// The queue item a queue notice is about.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeQueueItem {
    /// Id.
    pub id: i64,
    /// The file.
    pub file: String,
    /// Who added it (their name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Why it failed (queue.failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who added it (rights at delivery; not sent).
    #[serde(skip)]
    pub owner_id: Option<UserId>,
}

/// One occurrence of a notification event.
#[derive(Debug, Clone)]
pub struct Notice {
    /// What happened.
    pub event: NoticeEvent,
    /// Unix ms.
    pub at: i64,
    /// The printer.
    pub printer: Option<NoticePrinter>,
    /// The print job.
    pub job: Option<NoticeJob>,
    /// The queue item.
    pub queue_item: Option<NoticeQueueItem>,
    /// Why (printer.offline).
    pub reason: Option<String>,
    /// New HMS codes (printer.hms_error).
    pub hms: Vec<String>,
    /// One sentence in plain words.
    pub text: String,
}

impl Notice {
    /// A notice about a printer, without job or item yet.
    #[must_use]
    pub fn new(event: NoticeEvent, at: i64, printer: NoticePrinter, text: String) -> Self {
        Self {
            event,
            at,
            printer: Some(printer),
            job: None,
            queue_item: None,
            reason: None,
            hms: Vec::new(),
            text,
        }
    }

    /// The signed JSON body (`printwarden` webhooks).
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "event": self.event.name(),
            "at": rfc3339(self.at),
            "text": self.text,
        });
        if let Some(map) = body.as_object_mut() {
            if let Some(p) = &self.printer {
                map.insert("printer".into(), serde_json::json!(p));
            }
            if let Some(j) = &self.job {
                map.insert("job".into(), serde_json::json!(j));
            }
            if let Some(q) = &self.queue_item {
                map.insert("queue_item".into(), serde_json::json!(q));
            }
            if let Some(r) = &self.reason {
                map.insert("reason".into(), serde_json::json!(r));
            }
            if !self.hms.is_empty() {
                map.insert("hms".into(), serde_json::json!(self.hms));
            }
        }
        body
    }

    /// Whether `principal` may receive this notice now: `printers:read` on its printer, and for
    /// queue events the queue item's read right (`queue:read_all`, or `queue:read_own` on one's
    /// own item). Threat: a webhook or mail as a side channel around printer scopes.
    #[must_use]
    pub fn readable_by(&self, principal: &Principal) -> bool {
        let Some(printer) = &self.printer else {
            return false;
        };
        let target = PrinterRef {
            printer: printer.id,
            location: printer.location,
        };
        if !authorize(
            principal,
            Action::Perform(Permission::PrintersRead),
            &Target::Printer(target),
        )
        .is_allowed()
        {
            return false;
        }
        match (self.event.group(), &self.queue_item) {
            (NoticeGroup::Queue, Some(item)) => authorize(
                principal,
                Action::OnOwned {
                    own: Some(Permission::QueueReadOwn),
                    all: Permission::QueueReadAll,
                },
                &Target::Owned {
                    owner: item.owner_id,
                    printer: Some(target),
                },
            )
            .is_allowed(),
            (NoticeGroup::Queue, None) => false,
            _ => true,
        }
    }
}

/// Whether a principal holds, anywhere, what receiving `event` needs (the save-time rule; the
/// delivery-time rule is [`Notice::readable_by`] per printer and item).
#[must_use]
pub fn may_subscribe(principal: &Principal, event: NoticeEvent) -> bool {
    use pw_policy::{Visibility, global_visibility, printer_visibility};
    let printers = printer_visibility(principal, Permission::PrintersRead) != Visibility::None;
    match event.group() {
        NoticeGroup::Printing | NoticeGroup::Printers => printers,
        NoticeGroup::Queue => {
            printers
                && (global_visibility(principal, Permission::QueueReadAll) != Visibility::None
                    || global_visibility(principal, Permission::QueueReadOwn) != Visibility::None)
        }
    }
}

/// A duration in words: `1 h 12 min`, `12 min`, `40 s`.
#[must_use]
pub fn duration_words(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m) = (s / 3600, (s % 3600) / 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// The notification section of `docs/AUDIT-EVENTS.md` (rendered by the audit events'
/// generator, after the audit table).
#[must_use]
pub fn notice_events_markdown() -> String {
    let mut out = String::from(
        "\n## Notification events\n\n\
         Generated from the notification catalogue (`crates/app/src/notify/events.rs`). These are \
         not audit log entries: they tell webhooks, push services (ntfy, Discord) and mail what \
         happens on the printers and in the queue. Webhook filters select them like audit \
         events (a name, a prefix ending in `.`, or `*`); a filter may only name events its \
         creator may receive, and each delivery is checked against the creator's rights on that \
         printer at delivery time. Each occurrence is sent once. `print.` selects only these; \
         `queue.` and `printer.` also select the audit events of those names (`queue.create`, \
         `printer.update`…), which need `audit:read`: name the events to get only these.\n\n\
         A `printwarden` webhook receives a signed JSON body `{\"event\", \"at\", \"printer\": \
         {\"id\", \"name\"}, \"job\": {…}, \"queue_item\": {…}, \"text\"}` (keys the event does \
         not carry are left out); `text` is one sentence in plain words, which is also what \
         ntfy and Discord show.\n\n\
         | Event | Group | When | Carries | Needs |\n|---|---|---|---|---|\n",
    );
    for e in NoticeEvent::ALL {
        let carries: Vec<String> = e.carries().iter().map(|c| format!("`{c}`")).collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            e.name(),
            e.group().label(),
            e.summary(),
            carries.join(", "),
            e.group().needs(),
        );
    }
    out.push_str(
        "\n`job`: `file`, and when known `print_job_id`, `started_by`, `duration_s`, `error`, \
         `error_text`. `queue_item`: `id`, `file`, `owner`, `reason`. `hms`: array of \
         16-hex-digit HMS ids.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_distinct_from_audit_events() {
        let mut seen = std::collections::HashSet::new();
        for e in NoticeEvent::ALL {
            assert!(seen.insert(e.name()), "{e} twice");
            assert_eq!(NoticeEvent::parse(e.name()), Some(*e));
            assert!(
                crate::system::audit::event::AuditEvent::parse(e.name()).is_none(),
                "{e} is an audit event too"
            );
        }
        assert_eq!(NoticeEvent::ALL.len(), 13);
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(4320), "1 h 12 min");
        assert_eq!(duration_words(720), "12 min");
        assert_eq!(duration_words(3600), "1 h");
        assert_eq!(duration_words(40), "40 s");
    }
}
