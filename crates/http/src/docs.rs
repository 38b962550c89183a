//! Generated documentation: `docs/PERMISSIONS.md` is rendered from the permission catalogue and
//! the route table, so the page can never disagree with what the server enforces. A test fails
//! when the committed file is stale (`UPDATE_DOCS=1 cargo test -p pw-http` rewrites it).

use std::fmt::Write;

use pw_domain::{Permission, SystemGroup};
use pw_policy::{Access, Requirement};

use crate::ROUTES;

fn access_text(access: &Access) -> String {
    match access {
        Access::Public { .. } => "public".to_owned(),
        Access::Session(Requirement::Authenticated) => "session".to_owned(),
        Access::SessionOrKey(Requirement::Authenticated) => "session or key".to_owned(),
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
}
