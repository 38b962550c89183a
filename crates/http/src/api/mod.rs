//! The JSON API and probe handlers, one folder per feature group (`auth`, `accounts`, `farm`,
//! `notify`, `system`) with the same feature names as `pw-app`. Each handler parses the
//! request once, calls one use case and maps the answer; who may call it is decided by its
//! row in the route table before it runs.

pub(crate) mod accounts;
pub(crate) mod auth;
pub(crate) mod farm;
pub(crate) mod notify;
pub(crate) mod system;

use crate::Mounter;

/// Mounts every API and probe handler for its rows of the route table.
pub(crate) fn mount(mounter: Mounter) -> Mounter {
    let mounter = notify::email::mount(auth::mfa::mount(accounts::users::mount(
        auth::sessions::mount(system::instance::mount(mounter)),
    )));
    let mounter = notify::events::mount(farm::printers::mount(notify::webhooks::mount(mounter)));
    let mounter = farm::cameras::mount(mounter);
    system::docs::mount(system::tls::mount(mounter))
}
