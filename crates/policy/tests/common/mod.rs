//! Generators shared by the policy property tests: ids, printer scopes and rights built the way
//! groups build them, over a small world of `PRINTERS` printers and `LOCATIONS` locations (small,
//! so generated scopes overlap often enough to exercise every reach).

use proptest::prelude::*;
use proptest::sample::subsequence;
use pw_domain::{LocationId, Permission, PrinterId, PrinterScope};
use pw_policy::Rights;

/// Printer ids in the generated world.
pub const PRINTERS: i64 = 4;
/// Location ids in the generated world.
pub const LOCATIONS: i64 = 3;

/// A subset of `1..=max`.
pub fn ids(max: i64) -> impl Strategy<Value = Vec<i64>> {
    subsequence(
        (1..=max).collect::<Vec<_>>(),
        0..=usize::try_from(max).unwrap_or(0),
    )
}

/// A valid printer scope (it names at least one place).
pub fn scope() -> impl Strategy<Value = PrinterScope> {
    (ids(PRINTERS), ids(LOCATIONS))
        .prop_map(|(printers, locations)| PrinterScope {
            printers: printers.into_iter().map(PrinterId::from_db).collect(),
            locations: locations.into_iter().map(LocationId::from_db).collect(),
        })
        .prop_filter("names a place", |s| s.clone().validate().is_ok())
}

/// Rights as groups build them: a union of (permissions, optional scope).
pub fn rights() -> impl Strategy<Value = Rights> {
    proptest::collection::vec(
        (
            subsequence(Permission::ALL, 0..=Permission::ALL.len()),
            proptest::option::of(scope()),
        ),
        0..=3,
    )
    .prop_map(|groups| {
        let mut r = Rights::none();
        for (perms, scope) in groups {
            r.grant_group(perms, scope.as_ref());
        }
        r
    })
}
