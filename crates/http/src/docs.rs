//! Generated documentation: `docs/PERMISSIONS.md` is rendered from the permission catalogue and
//! the route table, and the counts and lists that the other docs state (how many permissions
//! and categories, how many route rows, what each system group and preset holds) are generated
//! sections between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` markers, so a page
//! can never disagree with what the server enforces. A test fails when a committed file is
//! stale (`UPDATE_DOCS=1 cargo test -p pw-http docs` rewrites them).

use std::fmt::Write;

use pw_domain::{PRESETS, Permission, SystemGroup};
use pw_policy::{Access, Requirement};

use crate::{Kind, ROUTES};

/// Replaces the text between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` in `doc`
/// with `body`, at every place the section appears. `None` when the section is missing or a
/// start marker has no end, so a deleted marker fails the check instead of passing silently.
#[must_use]
pub fn splice(doc: &str, name: &str, body: &str) -> Option<String> {
    let start = format!("<!-- generated:{name} -->");
    let end = format!("<!-- /generated:{name} -->");
    let mut out = String::with_capacity(doc.len());
    let mut rest = doc;
    let mut found = false;
    while let Some(i) = rest.find(&start) {
        let after = &rest[i + start.len()..];
        let j = after.find(&end)?;
        out.push_str(&rest[..i + start.len()]);
        out.push_str(body);
        out.push_str(&end);
        rest = &after[j + end.len()..];
        found = true;
    }
    out.push_str(rest);
    found.then_some(out)
}

/// Checks (or, with `UPDATE_DOCS` set, rewrites) the generated sections of one committed file,
/// given relative to the workspace root. Returns what is wrong (missing markers, a stale
/// section, a failed rewrite); empty when the file is current. For tests and tooling only.
#[must_use]
pub fn check_sections(
    workspace_root: &str,
    file: &str,
    sections: &[(&str, String)],
) -> Vec<String> {
    let path = format!("{workspace_root}/{file}");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let mut current = committed.clone();
    let mut problems = Vec::new();
    for (name, body) in sections {
        match splice(&current, name, body) {
            Some(next) => current = next,
            None => problems.push(format!("{file}: section `{name}` has no markers")),
        }
    }
    if current != committed {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            if let Err(e) = std::fs::write(&path, &current) {
                problems.push(format!("{file}: cannot write: {e}"));
            }
        } else {
            problems.push(format!("{file}: a generated section is stale"));
        }
    }
    problems
}

/// "N `resource:action` permissions in M categories (users, groups, …)".
#[must_use]
pub fn permission_summary() -> String {
    let categories = Permission::by_category();
    let keys: Vec<&str> = categories.iter().map(|(c, _)| c.label).collect();
    format!(
        "{} `resource:action` permissions in {} categories ({})",
        Permission::ALL.len(),
        categories.len(),
        keys.join(", ")
    )
}

/// The printer-bound permissions (the ones a group scope narrows), as inline code.
#[must_use]
pub fn printer_bound_summary() -> String {
    let names: Vec<String> = Permission::ALL
        .iter()
        .filter(|p| p.is_printer_bound())
        .map(|p| format!("`{p}`"))
        .collect();
    names.join(", ")
}

/// "N rows (A API, P pages, R probes, S assets)".
#[must_use]
pub fn route_summary() -> String {
    let count = |k: Kind| ROUTES.iter().filter(|r| r.kind == k).count();
    format!(
        "{} rows ({} API, {} pages, {} probes, {} assets)",
        ROUTES.len(),
        count(Kind::Api),
        count(Kind::Page),
        count(Kind::Probe),
        count(Kind::Asset)
    )
}

fn permission_list(list: &[Permission]) -> String {
    if list.len() == Permission::ALL.len() {
        return "every permission in the catalogue".to_owned();
    }
    if list.is_empty() {
        return "nothing yet".to_owned();
    }
    let names: Vec<String> = list.iter().map(|p| format!("`{p}`")).collect();
    names.join(", ")
}

/// A Markdown list (nested two spaces deep, between blank lines) of what each system group
/// holds.
#[must_use]
pub fn system_groups_markdown() -> String {
    let mut out = String::from("\n\n");
    for g in SystemGroup::ALL {
        let _ = writeln!(
            out,
            "  - `{}`: {}.",
            g.name(),
            permission_list(&g.permissions())
        );
    }
    out.push_str("\n  ");
    out
}

/// A Markdown list (nested two spaces deep, between blank lines) of the presets and what each
/// holds at seeding.
#[must_use]
pub fn presets_markdown() -> String {
    let mut out = String::from("\n\n");
    for p in PRESETS {
        let _ = writeln!(out, "  - `{}`: {}.", p.name, permission_list(p.permissions));
    }
    out.push_str("\n  ");
    out
}

/// The generated sections of each committed doc file, relative to the workspace root.
#[must_use]
pub fn generated_sections() -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    vec![
        (
            "README.md",
            vec![
                ("permission-summary", permission_summary()),
                (
                    "audit-event-count",
                    format!("{} kinds", pw_app::AuditEvent::ALL.len()),
                ),
            ],
        ),
        (
            "docs/ARCHITECTURE.md",
            vec![
                ("permission-summary", permission_summary()),
                ("route-summary", route_summary()),
                ("printer-bound", printer_bound_summary()),
                ("background-tasks", pw_app::background_tasks_markdown()),
            ],
        ),
        (
            "docs/SECURITY-MODEL.md",
            vec![
                ("system-groups", system_groups_markdown()),
                ("presets", presets_markdown()),
            ],
        ),
    ]
}

fn access_text(access: &Access) -> String {
    match access {
        Access::Public { .. } => "public".to_owned(),
        Access::Session(Requirement::Authenticated) => "session".to_owned(),
        Access::SessionOrKey(Requirement::Authenticated) => "session or key".to_owned(),
        Access::Session(Requirement::Enrol) => {
            "session (also before the required second factor is set up)".to_owned()
        }
        Access::SessionOrKey(Requirement::Enrol) => {
            "session or key (also before the required second factor is set up)".to_owned()
        }
        Access::Session(Requirement::Permission(p)) => format!("session + `{p}`"),
        Access::SessionOrKey(Requirement::Permission(p)) => format!("session or key + `{p}`"),
        Access::Ticket(t) => format!("ticket ({t:?})"),
        Access::Camera {
            first_message: false,
        } => "camera: session, API key or `?token=`, or a camera ticket".to_owned(),
        Access::Camera {
            first_message: true,
        } => "camera: as above, or a first message `{\"token\": …}` within 5 s".to_owned(),
    }
}

/// The Markdown of `docs/PERMISSIONS.md`.
#[must_use]
pub fn permissions_markdown() -> String {
    let mut out = String::from(
        "# Permissions\n\n\
         Generated from the permission catalogue (`crates/domain/src/permission.rs`) and the route \
         table (`crates/http/src/table.rs`) by `crates/http/src/docs.rs`; do not edit by hand \
         (`UPDATE_DOCS=1 cargo test -p pw-http docs` rewrites it).\n\n\
         A user's rights are the union of their groups' permissions. An API key acts with its \
         scopes ∩ its owner's current rights. `*_all` includes `*_own`; rows without an owner \
         need `*_all`. A group's printer scope narrows only printer-bound permissions.\n",
    );
    for (category, permissions) in Permission::by_category() {
        let _ = write!(
            out,
            "\n## {}\n\n| Permission | What it allows | Routes | Administrators | Operators | Viewers |\n|---|---|---|---|---|---|\n",
            category.label
        );
        for p in permissions {
            let routes: Vec<String> = ROUTES
                .iter()
                .filter(|r| r.permissions().any(|x| x == p))
                .map(|r| {
                    let fine = if r.access.permission() == Some(p) {
                        ""
                    } else {
                        " (row check)"
                    };
                    format!("`{} {}`{fine}", r.method, r.path)
                })
                .collect();
            let held = |g: SystemGroup| {
                if g.permissions().contains(&p) {
                    "yes"
                } else {
                    "—"
                }
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                p.as_str(),
                p.label(),
                routes.join("<br>"),
                held(SystemGroup::Administrators),
                held(SystemGroup::Operators),
                held(SystemGroup::Viewers),
            );
        }
    }
    out.push_str("\n## Every route\n\n| Method | Path | Access | Row check | Summary |\n|---|---|---|---|---|\n");
    for r in ROUTES {
        let fine: Vec<String> = r.fine.iter().map(|p| format!("`{p}`")).collect();
        let access = match r.access {
            Access::Public { reason } => format!("public — {reason}"),
            other => access_text(&other),
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} |",
            r.method,
            r.path,
            access,
            fine.join(", "),
            r.summary
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_permissions_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/PERMISSIONS.md");
        let expected = permissions_markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == expected,
            "docs/PERMISSIONS.md is stale: run `UPDATE_DOCS=1 cargo test -p pw-http docs` and commit it"
        );
    }

    #[test]
    fn docs_generated_sections_are_current() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let problems: Vec<String> = generated_sections()
            .iter()
            .flat_map(|(file, sections)| check_sections(root, file, sections))
            .collect();
        assert!(
            problems.is_empty(),
            "{problems:?}: run `UPDATE_DOCS=1 cargo test -p pw-http docs` and commit the docs"
        );
    }

    #[test]
    fn splice_replaces_every_occurrence_and_refuses_missing_markers() {
        let doc = "a <!-- generated:x -->old<!-- /generated:x --> b <!-- generated:x --><!-- /generated:x -->";
        assert_eq!(
            splice(doc, "x", "new").as_deref(),
            Some(
                "a <!-- generated:x -->new<!-- /generated:x --> b <!-- generated:x -->new<!-- /generated:x -->"
            )
        );
        assert_eq!(splice("no markers", "x", "new"), None);
        assert_eq!(
            splice("<!-- generated:x --> unterminated", "x", "new"),
            None
        );
    }
}
