//! AMS mapping: which tray feeds each filament of a plate. Pure (no IO): [`propose`] picks, per
//! filament, a loaded tray of the same material with the nearest colour (CIE76 ΔE in CIELAB,
//! a perceptual distance: two blues are closer than a blue and a purple of the same RGB gap),
//! each tray used once while free ones remain; [`validate`] checks a given mapping and says in
//! words what is wrong.
//!
//! Invariants: a proposal never names an empty tray or a tray of another material (a filament
//! without one stays unmapped, with the reason); a mapping [`validate`] accepts maps every
//! filament of the plate exactly once, and — when the printer's trays are known — only to
//! loaded trays of the filament's material. Threat (Bambuddy #2799, #2589): a mapping to the
//! wrong or an empty tray prints the wrong material or nothing; it is refused, never sent.

use pw_bambu::report::Status;
use serde::{Deserialize, Serialize};

/// The external spool holder's tray number (Bambu's `ams_mapping` value for it).
pub const EXTERNAL_TRAY: u32 = 254;
/// The highest AMS tray number (`unit * 4 + tray`).
pub const MAX_AMS_TRAY: u32 = 127;

/// One filament → tray assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmsAssignment {
    /// The plate's filament slot (1-based, as the library shows it).
    pub slot: u32,
    /// The tray: `unit * 4 + tray` counting from 0 (AMS 1 tray 1 = 0, AMS 2 tray 1 = 4), or 254
    /// for the external spool.
    pub tray: u32,
}

/// A filament the plate needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// 1-based slot.
    pub slot: u32,
    /// Material (`PLA` …), empty when the file does not say.
    pub material: String,
    /// `#RRGGBB[AA]`, empty when the file does not say.
    pub color: String,
}

/// A tray as the printer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTray {
    /// `unit * 4 + tray`.
    pub tray: u32,
    /// Material, empty when no spool is loaded.
    pub material: String,
    /// `RRGGBBAA`.
    pub color: String,
}

/// One line of a proposal.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Proposal {
    /// The plate's filament slot.
    pub slot: u32,
    /// The proposed tray, null when no loaded tray holds the material.
    pub tray: Option<u32>,
    /// Why, in words.
    pub reason: String,
}

/// The trays of a live report (AMS units only; the external spool is not reported there).
#[must_use]
pub fn trays_of(status: &Status) -> Vec<LiveTray> {
    let mut out = Vec::new();
    for unit in &status.ams {
        let Ok(u) = unit.id.parse::<u32>() else {
            continue;
        };
        for t in &unit.trays {
            let Ok(i) = t.id.parse::<u32>() else { continue };
            if i > 3 {
                continue;
            }
            let Some(tray) = u.checked_mul(4).and_then(|b| b.checked_add(i)) else {
                continue;
            };
            if tray <= MAX_AMS_TRAY {
                out.push(LiveTray {
                    tray,
                    material: t.material.trim().to_owned(),
                    color: t.color.trim().to_owned(),
                });
            }
        }
    }
    out.sort_by_key(|t| t.tray);
    out
}

/// The tray in words: `AMS 1 tray 3`, `the external spool`.
#[must_use]
pub fn tray_name(tray: u32) -> String {
    if tray == EXTERNAL_TRAY {
        "the external spool".to_owned()
    } else {
        format!("AMS {} tray {}", tray / 4 + 1, tray % 4 + 1)
    }
}

/// Materials compared as the printer and the slicer write them (`pla` = `PLA`).
fn same_material(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// CIELAB of an sRGB colour (D65).
fn lab(rgb: (u8, u8, u8)) -> (f64, f64, f64) {
    fn linear(c: u8) -> f64 {
        let c = f64::from(c) / 255.0;
        if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    }
    fn f(t: f64) -> f64 {
        const D: f64 = 6.0 / 29.0;
        if t > D * D * D {
            t.cbrt()
        } else {
            t / (3.0 * D * D) + 4.0 / 29.0
        }
    }
    let (r, g, b) = (linear(rgb.0), linear(rgb.1), linear(rgb.2));
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let (fx, fy, fz) = (f(x), f(y), f(z));
    (116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz))
}

fn rgb(text: &str) -> Option<(u8, u8, u8)> {
    pw_printfile::Colour::parse(text).map(|c| (c.red, c.green, c.blue))
}

/// CIE76 ΔE between two colours as written (`#RRGGBB[AA]` or `RRGGBB[AA]`); `None` when one
/// does not parse.
#[must_use]
pub fn delta_e(a: &str, b: &str) -> Option<f64> {
    let (l1, a1, b1) = lab(rgb(a)?);
    let (l2, a2, b2) = lab(rgb(b)?);
    Some(((l1 - l2).powi(2) + (a1 - a2).powi(2) + (b1 - b2).powi(2)).sqrt())
}

/// Proposes a tray for every filament: a loaded tray of the same material, nearest colour
/// first, preferring trays no other filament took.
#[must_use]
pub fn propose(needs: &[Need], trays: &[LiveTray]) -> Vec<Proposal> {
    let mut used: Vec<u32> = Vec::new();
    needs
        .iter()
        .map(|need| {
            let mut candidates: Vec<(&LiveTray, Option<f64>)> = trays
                .iter()
                .filter(|t| !t.material.is_empty() && same_material(&t.material, &need.material))
                .map(|t| (t, delta_e(&need.color, &t.color)))
                .collect();
            if need.material.trim().is_empty() || candidates.is_empty() {
                return Proposal {
                    slot: need.slot,
                    tray: None,
                    reason: if need.material.trim().is_empty() {
                        "The file does not say which material this filament is.".to_owned()
                    } else {
                        format!("No loaded tray holds {}.", need.material.trim())
                    },
                };
            }
            // Free trays first, then the nearest colour (unknown colours last), then the
            // lowest tray number, so the answer is deterministic.
            candidates.sort_by(|(ta, da), (tb, db)| {
                let free = |t: &LiveTray| used.contains(&t.tray);
                free(ta)
                    .cmp(&free(tb))
                    .then_with(|| match (da, db) {
                        (Some(x), Some(y)) => x.total_cmp(y),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    })
                    .then_with(|| ta.tray.cmp(&tb.tray))
            });
            let (best, distance) = candidates[0];
            used.push(best.tray);
            let how = match distance {
                Some(d) if d < 1.0 => "the same colour".to_owned(),
                Some(d) => format!("the nearest colour (ΔE {d:.1})"),
                None => "no colour to compare".to_owned(),
            };
            Proposal {
                slot: need.slot,
                tray: Some(best.tray),
                reason: format!("{} holds {}, {how}.", tray_name(best.tray), best.material),
            }
        })
        .collect()
}

/// Checks a mapping: every filament of the plate mapped exactly once, to an AMS tray number or
/// the external spool; and when the printer's trays are known (`trays`), only to a loaded tray
/// of the filament's material. The error says what is wrong, in words.
pub fn validate(
    needs: &[Need],
    trays: Option<&[LiveTray]>,
    mapping: &[AmsAssignment],
) -> Result<(), String> {
    if mapping.len() > needs.len() {
        return Err(format!(
            "The plate uses {} filament(s); the mapping names {}.",
            needs.len(),
            mapping.len()
        ));
    }
    let mut seen: Vec<u32> = Vec::with_capacity(mapping.len());
    for a in mapping {
        let Some(need) = needs.iter().find(|n| n.slot == a.slot) else {
            return Err(format!("The plate has no filament {}.", a.slot));
        };
        if seen.contains(&a.slot) {
            return Err(format!("Filament {} is mapped twice.", a.slot));
        }
        seen.push(a.slot);
        if a.tray > MAX_AMS_TRAY && a.tray != EXTERNAL_TRAY {
            return Err(format!(
                "Tray {} does not exist: use 0–{MAX_AMS_TRAY} (AMS unit × 4 + tray) or {EXTERNAL_TRAY} for the external spool.",
                a.tray
            ));
        }
        let Some(trays) = trays else { continue };
        if a.tray == EXTERNAL_TRAY {
            // The report does not describe the external spool: nothing to check against.
            continue;
        }
        let Some(tray) = trays.iter().find(|t| t.tray == a.tray) else {
            return Err(format!(
                "{} does not exist on this printer.",
                tray_name(a.tray)
            ));
        };
        if tray.material.is_empty() {
            return Err(format!(
                "{} is empty: load a spool or map filament {} to another tray.",
                tray_name(a.tray),
                a.slot
            ));
        }
        if !need.material.trim().is_empty() && !same_material(&tray.material, &need.material) {
            return Err(format!(
                "Filament {} is {} but {} holds {}.",
                a.slot,
                need.material.trim(),
                tray_name(a.tray),
                tray.material
            ));
        }
    }
    if let Some(missing) = needs.iter().find(|n| !seen.contains(&n.slot)) {
        return Err(format!(
            "Filament {} has no tray: map every filament of the plate, or leave the mapping out to have it proposed when the job starts.",
            missing.slot
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn need(slot: u32, material: &str, color: &str) -> Need {
        Need {
            slot,
            material: material.into(),
            color: color.into(),
        }
    }

    fn tray(tray: u32, material: &str, color: &str) -> LiveTray {
        LiveTray {
            tray,
            material: material.into(),
            color: color.into(),
        }
    }

    #[test]
    fn nearest_colour_of_the_same_material_wins() {
        let trays = [
            tray(0, "PLA", "0000FFFF"),
            tray(1, "PETG", "FF0000FF"),
            tray(2, "PLA", "E00000FF"),
            tray(3, "", ""),
        ];
        let p = propose(
            &[need(1, "PLA", "#FF0000"), need(2, "PETG", "#00FF00")],
            &trays,
        );
        assert_eq!(p[0].tray, Some(2), "{p:?}");
        assert_eq!(p[1].tray, Some(1), "{p:?}");
        assert!(p[0].reason.contains("AMS 1 tray 3"), "{}", p[0].reason);
        let none = propose(&[need(1, "ABS", "#000000")], &trays);
        assert_eq!(none[0].tray, None);
        assert_eq!(none[0].reason, "No loaded tray holds ABS.");
    }

    #[test]
    fn validation_says_what_is_wrong() {
        let trays = [tray(0, "PLA", "FF0000FF"), tray(1, "", "")];
        let needs = [need(1, "PLA", "#FF0000")];
        let check = |slot, t| validate(&needs, Some(&trays), &[AmsAssignment { slot, tray: t }]);
        assert_eq!(check(1, 0), Ok(()));
        assert!(check(1, 1).unwrap_err().contains("AMS 1 tray 2 is empty"));
        assert!(check(2, 0).unwrap_err().contains("no filament 2"));
        assert!(
            check(1, 7)
                .unwrap_err()
                .contains("does not exist on this printer")
        );
        assert!(
            check(1, 200)
                .unwrap_err()
                .contains("Tray 200 does not exist")
        );
        assert_eq!(check(1, EXTERNAL_TRAY), Ok(()));
        let petg = [tray(0, "PETG", "FF0000FF")];
        assert_eq!(
            validate(&needs, Some(&petg), &[AmsAssignment { slot: 1, tray: 0 }]),
            Err("Filament 1 is PLA but AMS 1 tray 1 holds PETG.".into())
        );
        let two = [need(1, "PLA", ""), need(2, "PLA", "")];
        assert!(
            validate(&two, None, &[AmsAssignment { slot: 1, tray: 0 }])
                .unwrap_err()
                .contains("Filament 2 has no tray")
        );
        assert!(
            validate(
                &two,
                None,
                &[
                    AmsAssignment { slot: 1, tray: 0 },
                    AmsAssignment { slot: 1, tray: 1 }
                ]
            )
            .unwrap_err()
            .contains("mapped twice")
        );
    }

    #[test]
    fn delta_e_is_perceptual() {
        assert_eq!(delta_e("#FFFFFF", "FFFFFFFF").map(|d| d < 1e-9), Some(true));
        let black_white = delta_e("#000000", "#FFFFFF").unwrap();
        assert!((black_white - 100.0).abs() < 0.1, "{black_white}");
        assert_eq!(delta_e("#GG0000", "#000000"), None);
    }

    fn materials() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("PLA".to_owned()),
            Just("pla".to_owned()),
            Just("PETG".to_owned()),
            Just("ABS".to_owned()),
        ]
    }

    fn colours() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            any::<[u8; 3]>().prop_map(|c| format!("{:02X}{:02X}{:02X}FF", c[0], c[1], c[2])),
        ]
    }

    fn live_trays() -> impl Strategy<Value = Vec<LiveTray>> {
        proptest::collection::btree_set(0u32..16, 0..8).prop_flat_map(|ids| {
            let ids: Vec<u32> = ids.into_iter().collect();
            let n = ids.len();
            proptest::collection::vec((materials(), colours()), n).prop_map(move |mc| {
                ids.iter()
                    .zip(mc)
                    .map(|(&t, (m, c))| LiveTray {
                        tray: t,
                        material: m,
                        color: c,
                    })
                    .collect()
            })
        })
    }

    fn plate_needs() -> impl Strategy<Value = Vec<Need>> {
        proptest::collection::vec((materials(), colours()), 1..6).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (m, c))| Need {
                    slot: u32::try_from(i + 1).unwrap_or(1),
                    material: if m.is_empty() { "PLA".into() } else { m },
                    color: if c.is_empty() {
                        String::new()
                    } else {
                        format!("#{c}")
                    },
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn proposals_never_name_an_empty_or_wrong_material_tray(
            needs in plate_needs(),
            trays in live_trays(),
        ) {
            let proposal = propose(&needs, &trays);
            prop_assert_eq!(proposal.len(), needs.len());
            for (p, n) in proposal.iter().zip(&needs) {
                prop_assert_eq!(p.slot, n.slot);
                if let Some(t) = p.tray {
                    let tray = trays.iter().find(|x| x.tray == t).unwrap();
                    prop_assert!(!tray.material.is_empty());
                    prop_assert!(same_material(&tray.material, &n.material));
                } else {
                    prop_assert!(!trays.iter().any(|x| !x.material.is_empty()
                        && same_material(&x.material, &n.material)));
                }
            }
            // A complete proposal is a mapping the validator accepts.
            if proposal.iter().all(|p| p.tray.is_some()) {
                let mapping: Vec<AmsAssignment> = proposal
                    .iter()
                    .filter_map(|p| p.tray.map(|tray| AmsAssignment { slot: p.slot, tray }))
                    .collect();
                prop_assert_eq!(validate(&needs, Some(&trays), &mapping), Ok(()));
            }
        }

        #[test]
        fn validation_refuses_every_empty_or_wrong_material_tray(
            needs in plate_needs(),
            trays in live_trays(),
            picks in proptest::collection::vec(0u32..16, 6),
        ) {
            let mapping: Vec<AmsAssignment> = needs
                .iter()
                .zip(&picks)
                .map(|(n, &tray)| AmsAssignment { slot: n.slot, tray })
                .collect();
            let ok = validate(&needs, Some(&trays), &mapping).is_ok();
            let sound = mapping.iter().zip(&needs).all(|(a, n)| {
                trays.iter().any(|t| t.tray == a.tray
                    && !t.material.is_empty()
                    && same_material(&t.material, &n.material))
            });
            prop_assert_eq!(ok, sound);
        }

        #[test]
        fn delta_e_is_a_distance(a in any::<[u8; 3]>(), b in any::<[u8; 3]>()) {
            let hex = |c: [u8; 3]| format!("#{:02X}{:02X}{:02X}", c[0], c[1], c[2]);
            let ab = delta_e(&hex(a), &hex(b)).unwrap();
            let ba = delta_e(&hex(b), &hex(a)).unwrap();
            prop_assert!(ab >= 0.0);
            prop_assert!((ab - ba).abs() < 1e-9);
            prop_assert!(delta_e(&hex(a), &hex(a)).unwrap() < 1e-9);
        }

        #[test]
        fn an_exact_colour_match_of_the_material_is_chosen(
            c in any::<[u8; 3]>(),
            others in proptest::collection::vec(any::<[u8; 3]>(), 0..4),
        ) {
            let hex = |c: [u8; 3]| format!("{:02X}{:02X}{:02X}FF", c[0], c[1], c[2]);
            let mut trays: Vec<LiveTray> = others
                .iter()
                .enumerate()
                .map(|(i, o)| tray(u32::try_from(i).unwrap_or(0), "PLA", &hex(*o)))
                .collect();
            trays.push(tray(9, "PLA", &hex(c)));
            let p = propose(&[need(1, "PLA", &format!("#{}", &hex(c)[..6]))], &trays);
            let chosen = trays.iter().find(|t| Some(t.tray) == p[0].tray).unwrap();
            prop_assert!(delta_e(&chosen.color, &hex(c)).unwrap() < 1e-9);
        }
    }
}
