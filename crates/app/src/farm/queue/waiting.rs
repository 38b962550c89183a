//! Why a queued item is not printing yet, in words ("Waiting for P1S-01 to be free",
//! "Paused", "Not before 14:00 UTC on 2026-11-23", "Waiting for a free printer in the group
//! PLA farm"). Pure: the caller gathers the facts.
//!
//! Invariant: the first blocker in dispatch order is named (a paused queue before a time,
//! a time before the printer), so the words say what must change first.

use crate::core::clock::rfc3339;

/// What a queued item waits behind, gathered by the caller.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// The whole queue is paused.
    pub queue_paused: bool,
    /// The target printer's lane is paused.
    pub lane_paused: bool,
    /// Unix ms now.
    pub now: i64,
    /// The item's "not before".
    pub not_before: Option<i64>,
    /// A failed start's retry time and why it failed.
    pub retry: Option<(i64, Option<String>)>,
    /// What the target is, in words, once resolved.
    pub target: Target,
    /// The plate of the target printer must be confirmed clear first.
    pub plate_not_cleared: bool,
    /// The plate of the target printer needs clearing, but the check is waived — by whom, in
    /// words ("location Hall B", "this printer").
    pub plate_waived_by: Option<String>,
}

/// The target, as far as the words need it.
#[derive(Debug, Clone, Default)]
pub(crate) enum Target {
    /// A printer: its name, and whether it is online and free.
    Printer {
        name: String,
        online: bool,
        busy: bool,
    },
    /// Any printer of a model.
    Model(String),
    /// Any printer in a location.
    Location(String),
    /// Any member of a printer group: its name and how many printers are in it.
    Group { name: String, members: usize },
    /// Parked: its target went away, with the reason in words.
    Parked(String),
    /// The printer or location it named was removed.
    #[default]
    Gone,
}

/// Minutes of a unix-ms time as `HH:MM UTC on YYYY-MM-DD`.
fn when(ms: i64) -> String {
    let t = rfc3339(ms);
    // `YYYY-MM-DDTHH:MM:SS…`
    match (t.get(..10), t.get(11..16)) {
        (Some(day), Some(hm)) => format!("{hm} UTC on {day}"),
        _ => t,
    }
}

/// The reason in words.
pub(crate) fn waiting_for(f: &Facts) -> String {
    if f.queue_paused {
        return "Paused: the whole queue is paused.".to_owned();
    }
    if let Target::Printer { name, .. } = &f.target
        && f.lane_paused
    {
        return format!("Paused: {name}'s lane is paused.");
    }
    if let Some((at, why)) = &f.retry
        && *at > f.now
    {
        let why = why.as_deref().unwrap_or("the last start failed");
        return format!("Retrying at {} ({why}).", when(*at));
    }
    if let Some(at) = f.not_before
        && at > f.now
    {
        return format!("Not before {}.", when(at));
    }
    match &f.target {
        Target::Gone => "Its printer or location was removed: choose another target.".to_owned(),
        Target::Printer { name, online, busy } => {
            if !online {
                format!("Waiting for {name} to come online.")
            } else if *busy {
                format!("Waiting for {name} to be free.")
            } else if f.plate_not_cleared {
                format!("Waiting for the plate of {name} to be cleared.")
            } else if let Some(by) = &f.plate_waived_by {
                format!(
                    "Waiting for its turn on {name} (the plate-clear check is waived for {by})."
                )
            } else {
                format!("Waiting for its turn on {name}.")
            }
        }
        Target::Model(model) => format!("Waiting for a free {model} printer."),
        Target::Location(place) => format!("Waiting for a free printer in {place}."),
        Target::Group { name, members: 0 } => {
            format!("The printer group {name} has no printers: add one, or choose another target.")
        }
        Target::Group { name, .. } => format!("Waiting for a free printer in the group {name}."),
        Target::Parked(why) => why.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printer(online: bool, busy: bool) -> Target {
        Target::Printer {
            name: "P1S-01".into(),
            online,
            busy,
        }
    }

    #[test]
    fn the_first_blocker_is_named() {
        let t0 = 1_800_000_000_000;
        let mut f = Facts {
            queue_paused: true,
            lane_paused: true,
            now: t0,
            not_before: Some(t0 + 3_600_000),
            target: printer(true, true),
            ..Facts::default()
        };
        assert_eq!(waiting_for(&f), "Paused: the whole queue is paused.");
        f.queue_paused = false;
        assert_eq!(waiting_for(&f), "Paused: P1S-01's lane is paused.");
        f.lane_paused = false;
        assert_eq!(waiting_for(&f), "Not before 09:00 UTC on 2027-01-15.");
        f.not_before = Some(t0);
        assert_eq!(waiting_for(&f), "Waiting for P1S-01 to be free.");
        f.target = printer(false, false);
        assert_eq!(waiting_for(&f), "Waiting for P1S-01 to come online.");
        f.target = printer(true, false);
        f.plate_not_cleared = true;
        assert_eq!(
            waiting_for(&f),
            "Waiting for the plate of P1S-01 to be cleared."
        );
        f.plate_not_cleared = false;
        f.plate_waived_by = Some("location Hall B".into());
        assert_eq!(
            waiting_for(&f),
            "Waiting for its turn on P1S-01 (the plate-clear check is waived for location Hall B)."
        );
        f.target = Target::Group {
            name: "PLA farm".into(),
            members: 3,
        };
        assert_eq!(
            waiting_for(&f),
            "Waiting for a free printer in the group PLA farm."
        );
        f.target = Target::Group {
            name: "PLA farm".into(),
            members: 0,
        };
        assert_eq!(
            waiting_for(&f),
            "The printer group PLA farm has no printers: add one, or choose another target."
        );
        f.target =
            Target::Parked("Its printer group PLA farm was deleted: choose another target.".into());
        assert_eq!(
            waiting_for(&f),
            "Its printer group PLA farm was deleted: choose another target."
        );
        f.target = Target::Model("X1C".into());
        assert_eq!(waiting_for(&f), "Waiting for a free X1C printer.");
        f.retry = Some((t0 + 60_000, Some("the printer did not answer".into())));
        assert_eq!(
            waiting_for(&f),
            "Retrying at 08:01 UTC on 2027-01-15 (the printer did not answer)."
        );
    }
}
