//! A printer's state as an operator reads it: the one home-page count it falls under and its
//! label in plain words, from the connection, the firmware state, the print error and the
//! plate gate.
//!
//! Invariant: the home page, the printer cards, the list view's filter and the events socket
//! all take the state from here (it travels in `PrinterView`), so a count on the home page and
//! the badges on `/printers` never disagree, and no page shows a raw firmware word
//! (`PAUSE`, `FAILED`…). A user's stop is "Cancelled", never "Failed".

use pw_bambu::report::{GcodeState, Status};
use serde::Serialize;

use crate::farm::archive::watch::error_words;
use crate::farm::fleet::Connection;

/// The home page's counts: every printer falls under exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Glance {
    /// Preparing or printing a job.
    Printing,
    /// A job is paused.
    Paused,
    /// A job ended (finished or cancelled) and nobody has confirmed the plate clear yet.
    Finished,
    /// Ready for a job.
    Idle,
    /// The last job failed, or the printer refuses printwarden (wrong access code, a refused
    /// certificate).
    Error,
    /// Not connected (or still connecting).
    Offline,
    /// The printer presented another certificate than the pinned one: someone must look.
    CertificateChanged,
}

impl Glance {
    /// Every value, in the order the home page shows the counts.
    pub const ALL: [Self; 7] = [
        Self::Printing,
        Self::Paused,
        Self::Finished,
        Self::Error,
        Self::CertificateChanged,
        Self::Offline,
        Self::Idle,
    ];

    /// The wire spelling (as serde writes it), for pages and their query strings.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Printing => "printing",
            Self::Paused => "paused",
            Self::Finished => "finished",
            Self::Idle => "idle",
            Self::Error => "error",
            Self::Offline => "offline",
            Self::CertificateChanged => "certificate_changed",
        }
    }

    /// The count's heading in words.
    #[must_use]
    pub fn words(self) -> &'static str {
        match self {
            Self::Printing => "Printing",
            Self::Paused => "Paused",
            Self::Finished => "Needs plate clearing",
            Self::Idle => "Idle",
            Self::Error => "Error",
            Self::Offline => "Offline",
            Self::CertificateChanged => "Certificate changed",
        }
    }

    /// Parses the wire spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// Why a job failed, in words: the print error's sentence, else the first health fault's code.
fn failure_reason(s: &Status) -> Option<String> {
    if let Some(code) = s.print_error.filter(|e| pw_bambu::report::is_fault(*e)) {
        return Some(error_words(code));
    }
    s.hms_faults()
        .next()
        .map(|h| format!("health message HMS {}.", h.short_code()))
}

/// The count and the words for a printer.
pub(crate) fn glance(
    connection: &Connection,
    status: Option<&Status>,
    plate_waiting: bool,
) -> (Glance, String) {
    let words = |g: Glance, w: &str| (g, w.to_owned());
    match connection {
        Connection::Online => {}
        Connection::Connecting => return words(Glance::Offline, "Connecting…"),
        Connection::Offline => return words(Glance::Offline, "Offline"),
        Connection::CertificateChanged => {
            return words(Glance::CertificateChanged, "Certificate changed");
        }
        Connection::CertificateRefused => return words(Glance::Error, "Certificate refused"),
        Connection::BadAccessCode => return words(Glance::Error, "Access code refused"),
    }
    let Some(s) = status else {
        return words(Glance::Idle, "Online");
    };
    let ended = |what: &str| {
        if plate_waiting {
            (Glance::Finished, format!("{what} — needs plate clearing"))
        } else {
            (Glance::Idle, what.to_owned())
        }
    };
    match &s.gcode_state {
        GcodeState::Prepare | GcodeState::Slicing => words(Glance::Printing, "Preparing"),
        GcodeState::Running => words(Glance::Printing, "Printing"),
        GcodeState::Pause => words(Glance::Paused, "Paused"),
        GcodeState::Finish => ended("Finished"),
        GcodeState::Failed if s.was_cancelled() => ended("Cancelled"),
        GcodeState::Failed => match failure_reason(s) {
            Some(reason) => (Glance::Error, format!("Failed: {reason}")),
            None => words(Glance::Error, "Failed"),
        },
        GcodeState::Idle | GcodeState::Unknown | GcodeState::Other(_) => {
            words(Glance::Idle, "Idle")
        }
    }
}

/// When the running job should end: the report's time plus the minutes it said were left.
/// Only while printing (a paused job's end moves with the pause).
pub(crate) fn ends_at_ms(status: Option<&Status>, last_report_ms: Option<i64>) -> Option<i64> {
    let s = status?;
    if !matches!(s.gcode_state, GcodeState::Running) {
        return None;
    }
    let minutes = s.remaining_minutes.filter(|m| *m > 0)?;
    Some(last_report_ms? + i64::from(minutes) * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pw_bambu::report::Report;

    fn status(print: &serde_json::Value) -> Status {
        let mut p = print.clone();
        p["command"] = "push_status".into();
        let mut r = Report::new();
        r.apply(&serde_json::to_vec(&serde_json::json!({ "print": p })).unwrap())
            .unwrap();
        r.status()
    }

    #[test]
    fn firmware_states_read_as_words() {
        let online = Connection::Online;
        let of = |p: serde_json::Value, waiting: bool| glance(&online, Some(&status(&p)), waiting);
        assert_eq!(
            of(serde_json::json!({"gcode_state": "PREPARE"}), false),
            (Glance::Printing, "Preparing".into())
        );
        assert_eq!(
            of(serde_json::json!({"gcode_state": "RUNNING"}), true),
            (Glance::Printing, "Printing".into())
        );
        assert_eq!(
            of(serde_json::json!({"gcode_state": "PAUSE"}), false),
            (Glance::Paused, "Paused".into())
        );
        assert_eq!(
            of(serde_json::json!({"gcode_state": "FINISH"}), true),
            (Glance::Finished, "Finished — needs plate clearing".into())
        );
        assert_eq!(
            of(serde_json::json!({"gcode_state": "FINISH"}), false),
            (Glance::Idle, "Finished".into())
        );
        // A user's stop: the cancel echo, not a failure.
        assert_eq!(
            of(
                serde_json::json!({"gcode_state": "FAILED", "print_error": 0x0500_400E_u32}),
                false
            ),
            (Glance::Idle, "Cancelled".into())
        );
        let (g, w) = of(
            serde_json::json!({"gcode_state": "FAILED", "print_error": 0x0700_8001_u32}),
            false,
        );
        assert_eq!(g, Glance::Error);
        assert_eq!(
            w,
            "Failed: The AMS failed to cut the filament; check the cutter."
        );
        assert_eq!(
            of(serde_json::json!({"gcode_state": "IDLE"}), false),
            (Glance::Idle, "Idle".into())
        );
        assert_eq!(
            glance(&Connection::CertificateChanged, None, false).0,
            Glance::CertificateChanged
        );
        assert_eq!(glance(&Connection::Offline, None, true).1, "Offline");
        for g in Glance::ALL {
            assert_eq!(Glance::parse(g.as_str()), Some(g));
            assert_eq!(serde_json::to_value(g).unwrap(), g.as_str());
        }
    }

    #[test]
    fn the_end_time_is_the_report_time_plus_the_minutes_left() {
        let running =
            status(&serde_json::json!({"gcode_state": "RUNNING", "mc_remaining_time": 5}));
        assert_eq!(ends_at_ms(Some(&running), Some(1_000)), Some(301_000));
        let paused = status(&serde_json::json!({"gcode_state": "PAUSE", "mc_remaining_time": 5}));
        assert_eq!(ends_at_ms(Some(&paused), Some(1_000)), None);
        assert_eq!(ends_at_ms(Some(&running), None), None);
    }
}
