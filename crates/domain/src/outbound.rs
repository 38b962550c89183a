//! Which addresses an outbound request made on a user's behalf may reach (SPEC S7, SSRF).
//! Pure classification; the guard that resolves names and connects lives in `pw-app`.
//!
//! Invariants:
//! - IPv6 is an allow-list, not a deny-list: only global unicast `2000::/3` passes, minus the
//!   ranges of the IANA IPv6 special-purpose registry that are not globally reachable
//!   (threat: a deny-list misses the next tunnelling or translation prefix, as it missed SIIT
//!   `::ffff:0:a.b.c.d`, local-use NAT64 `64:ff9b:1::/48` and Teredo `2001::/32`);
//! - an address is judged by what it *is*, whatever its spelling: the IPv6 forms that carry an
//!   IPv4 address (IPv4-mapped, IPv4-compatible, SIIT, NAT64, 6to4, Teredo) are judged by that
//!   IPv4 address, and of those only IPv4-mapped and the well-known NAT64 prefix
//!   `64:ff9b::/96` (what DNS64 hands out for public IPv4 hosts) can pass at all (threat:
//!   `[::ffff:7f00:1]` reaching loopback past a check that only knows IPv4 ranges).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not reachable for outbound requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16.
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// Cloud metadata endpoints: 169.254.169.254, fd00:ec2::254.
    Metadata,
    /// 100.64/10 (carrier-grade NAT).
    SharedCgnat,
    /// fc00::/7.
    UniqueLocal,
    /// fec0::/10 (deprecated site-local).
    SiteLocal,
    /// 224/4, ff00::/8.
    Multicast,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// 240/4, 192.0.0/24, benchmarking 198.18/15, documentation ranges, 2001:db8::/32,
    /// 3fff::/20, IETF protocol assignments 2001::/23, and IPv6 outside global unicast.
    Reserved,
    /// An IPv4/IPv6 transition form that is not globally reachable: 6to4 `2002::/16`, Teredo
    /// `2001::/32`, local-use NAT64 `64:ff9b:1::/48`, SIIT `::ffff:0:0:0/96`, IPv4-compatible
    /// `::/96` (when the IPv4 address inside is itself public; otherwise its own reason).
    Transition,
}

impl Blocked {
    /// A few words for error messages: "a loopback address".
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Blocked::Loopback => "a loopback address",
            Blocked::Private => "a private network address",
            Blocked::LinkLocal => "a link-local address",
            Blocked::Metadata => "a cloud metadata address",
            Blocked::SharedCgnat => "a carrier-grade NAT address",
            Blocked::UniqueLocal => "a unique-local IPv6 address",
            Blocked::SiteLocal => "a site-local IPv6 address",
            Blocked::Multicast => "a multicast address",
            Blocked::Unspecified => "an unspecified address",
            Blocked::Broadcast => "the broadcast address",
            Blocked::Reserved => "a reserved address",
            Blocked::Transition => "an IPv4-in-IPv6 tunnel or translation address",
        }
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why `ip` may not be reached, or `None` for an ordinary public address.
#[must_use]
pub fn blocked(ip: IpAddr) -> Option<Blocked> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn blocked_v4(ip: Ipv4Addr) -> Option<Blocked> {
    let table: &[([u8; 4], u32, Blocked)] = &[
        ([169, 254, 169, 254], 32, Blocked::Metadata),
        ([0, 0, 0, 0], 8, Blocked::Unspecified),
        ([10, 0, 0, 0], 8, Blocked::Private),
        ([100, 64, 0, 0], 10, Blocked::SharedCgnat),
        ([127, 0, 0, 0], 8, Blocked::Loopback),
        ([169, 254, 0, 0], 16, Blocked::LinkLocal),
        ([172, 16, 0, 0], 12, Blocked::Private),
        ([192, 0, 0, 0], 24, Blocked::Reserved),
        ([192, 0, 2, 0], 24, Blocked::Reserved),
        ([192, 88, 99, 0], 24, Blocked::Reserved),
        ([192, 168, 0, 0], 16, Blocked::Private),
        ([198, 18, 0, 0], 15, Blocked::Reserved),
        ([198, 51, 100, 0], 24, Blocked::Reserved),
        ([203, 0, 113, 0], 24, Blocked::Reserved),
        ([224, 0, 0, 0], 4, Blocked::Multicast),
        ([255, 255, 255, 255], 32, Blocked::Broadcast),
        ([240, 0, 0, 0], 4, Blocked::Reserved),
    ];
    table
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, why)| *why)
}

/// Whether `bits` lies in `net/len`.
fn in_v6(bits: u128, net: u128, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    bits & mask == net & mask
}

/// Ranges of `2000::/3` that the IANA IPv6 special-purpose registry lists as not globally
/// reachable. The whole of `2001::/23` (IETF protocol assignments) is refused, including its
/// few globally reachable anycast entries (PCP, TURN, AMT, AS112): nobody points a webhook or
/// a mail server at a protocol anycast address, and one rule is easier to get right.
const NOT_GLOBAL_V6: &[(u128, u32, Blocked)] = &[
    // 2001:db8::/32 documentation.
    (0x2001_0db8 << 96, 32, Blocked::Reserved),
    // 2001::/32 Teredo: the client's IPv4 address is inside; refused whatever it is.
    (0x2001_0000 << 96, 32, Blocked::Transition),
    // 2001::/23 IETF protocol assignments (benchmarking 2001:2::/48, ORCHID, …).
    (0x2001_0000 << 96, 23, Blocked::Reserved),
    // 2002::/16 6to4: relays reach the IPv4 address inside.
    (0x2002 << 112, 16, Blocked::Transition),
    // 3fff::/20 documentation (RFC 9637).
    (0x3fff << 112, 20, Blocked::Reserved),
];

fn blocked_v6(ip: Ipv6Addr) -> Option<Blocked> {
    let bits = u128::from(ip);
    if bits == 0 {
        return Some(Blocked::Unspecified);
    }
    if ip == Ipv6Addr::LOCALHOST {
        return Some(Blocked::Loopback);
    }
    // Forms that carry an IPv4 address: a blocked IPv4 inside gives its own reason; a public
    // one passes only in the forms that reach it (IPv4-mapped, well-known NAT64).
    if let Some((v4, reachable)) = embedded_v4(ip) {
        return match blocked_v4(v4) {
            Some(why) => Some(why),
            None if reachable => None,
            None => Some(Blocked::Transition),
        };
    }
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        return Some(Blocked::Metadata);
    }
    let seg0 = ip.segments()[0];
    if seg0 & 0xff00 == 0xff00 {
        return Some(Blocked::Multicast);
    }
    if seg0 & 0xffc0 == 0xfe80 {
        return Some(Blocked::LinkLocal);
    }
    if seg0 & 0xffc0 == 0xfec0 {
        return Some(Blocked::SiteLocal);
    }
    if seg0 & 0xfe00 == 0xfc00 {
        return Some(Blocked::UniqueLocal);
    }
    // The allow-list: global unicast only (this also refuses the discard prefix 100::/64,
    // local-use NAT64 64:ff9b:1::/48, SRv6 5f00::/16 and every future non-global range).
    if !in_v6(bits, 0x2000 << 112, 3) {
        return Some(if in_v6(bits, 0x0064_ff9b_0001 << 80, 48) {
            Blocked::Transition
        } else {
            Blocked::Reserved
        });
    }
    NOT_GLOBAL_V6
        .iter()
        .find(|(net, len, _)| in_v6(bits, *net, *len))
        .map(|(_, _, why)| match teredo_client(ip).and_then(blocked_v4) {
            // A Teredo address naming loopback says so, not just "tunnel".
            Some(inner) if *why == Blocked::Transition => inner,
            _ => *why,
        })
}

/// The IPv4 address inside an IPv6 address that carries one, and whether that form reaches
/// it for real (only IPv4-mapped and the well-known NAT64 prefix do).
fn embedded_v4(ip: Ipv6Addr) -> Option<(Ipv4Addr, bool)> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let seg = ip.segments();
    // ::ffff:a.b.c.d (IPv4-mapped): a socket connecting there reaches a.b.c.d.
    if bits >> 32 == 0xffff {
        return Some((low32, true));
    }
    // ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1 (handled before).
    if bits >> 32 == 0 {
        return Some((low32, false));
    }
    // ::ffff:0:a.b.c.d (SIIT, RFC 2765).
    if bits >> 32 == 0xffff_0000 {
        return Some((low32, false));
    }
    // 64:ff9b::/96 (NAT64 well-known prefix): DNS64 answers this for public IPv4 hosts.
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return Some((low32, true));
    }
    // 2002:AABB:CCDD::/48 (6to4) carries AA.BB.CC.DD.
    if seg[0] == 0x2002 {
        let [a, b] = seg[1].to_be_bytes();
        let [c, d] = seg[2].to_be_bytes();
        return Some((Ipv4Addr::new(a, b, c, d), false));
    }
    None
}

/// The client's IPv4 address inside a Teredo address (`2001::/32`): the last 32 bits, inverted.
fn teredo_client(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    in_v6(bits, 0x2001_0000 << 96, 32).then(|| Ipv4Addr::from(!((bits & 0xffff_ffff) as u32)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> Option<Blocked> {
        blocked(s.parse().unwrap())
    }

    #[test]
    fn every_blocked_ipv4_range() {
        for (ip, why) in [
            ("127.0.0.1", Blocked::Loopback),
            ("127.255.255.254", Blocked::Loopback),
            ("10.1.2.3", Blocked::Private),
            ("172.16.0.1", Blocked::Private),
            ("172.31.255.255", Blocked::Private),
            ("192.168.1.1", Blocked::Private),
            ("169.254.1.1", Blocked::LinkLocal),
            ("169.254.169.254", Blocked::Metadata),
            ("100.64.0.1", Blocked::SharedCgnat),
            ("100.127.255.255", Blocked::SharedCgnat),
            ("0.0.0.0", Blocked::Unspecified),
            ("0.1.2.3", Blocked::Unspecified),
            ("224.0.0.1", Blocked::Multicast),
            ("239.255.255.250", Blocked::Multicast),
            ("255.255.255.255", Blocked::Broadcast),
            ("240.0.0.1", Blocked::Reserved),
            ("192.0.0.8", Blocked::Reserved),
            ("192.0.2.1", Blocked::Reserved),
            ("198.18.0.1", Blocked::Reserved),
            ("198.51.100.1", Blocked::Reserved),
            ("203.0.113.1", Blocked::Reserved),
        ] {
            assert_eq!(check(ip), Some(why), "{ip}");
        }
    }

    #[test]
    fn public_ipv4_passes_including_range_neighbours() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "11.0.0.1",
            "169.253.255.255",
            "223.255.255.255",
        ] {
            assert_eq!(check(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_blocked_ipv6_range() {
        for (ip, why) in [
            ("::1", Blocked::Loopback),
            ("::", Blocked::Unspecified),
            ("fe80::1", Blocked::LinkLocal),
            ("febf::1", Blocked::LinkLocal),
            ("fec0::1", Blocked::SiteLocal),
            ("fc00::1", Blocked::UniqueLocal),
            ("fd12:3456::1", Blocked::UniqueLocal),
            ("fd00:ec2::254", Blocked::Metadata),
            ("ff02::1", Blocked::Multicast),
            ("2001:db8::1", Blocked::Reserved),
            ("100::1", Blocked::Reserved),
        ] {
            assert_eq!(check(ip), Some(why), "{ip}");
        }
        assert_eq!(check("2606:4700:4700::1111"), None);
        assert_eq!(check("2a00:1450:4001::200e"), None);
    }

    #[test]
    fn ipv6_forms_carrying_ipv4_are_judged_as_that_ipv4() {
        for (ip, why) in [
            ("::ffff:127.0.0.1", Blocked::Loopback),
            ("::ffff:7f00:1", Blocked::Loopback),
            ("::ffff:169.254.169.254", Blocked::Metadata),
            ("::ffff:10.0.0.1", Blocked::Private),
            ("::127.0.0.1", Blocked::Loopback),
            ("::10.0.0.1", Blocked::Private),
            ("64:ff9b::127.0.0.1", Blocked::Loopback),
            ("64:ff9b::a9fe:a9fe", Blocked::Metadata),
            ("2002:7f00:1::1", Blocked::Loopback),
            ("2002:c0a8:101::1", Blocked::Private),
            // The audit's finding 12: SIIT, local-use NAT64 and Teredo.
            ("::ffff:0:127.0.0.1", Blocked::Loopback),
            ("::ffff:0:10.0.0.1", Blocked::Private),
            ("::ffff:0:8.8.8.8", Blocked::Transition),
            ("64:ff9b:1::7f00:1", Blocked::Transition),
            ("64:ff9b:1::8.8.8.8", Blocked::Transition),
            ("64:ff9b:1:ffff::1", Blocked::Transition),
            // Teredo: server 65.54.227.120, client !0x80ffd6fe = 127.0.41.1.
            ("2001:0:4136:e378:8000:63bf:80ff:d6fe", Blocked::Loopback),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Blocked::Reserved),
            ("2001::f7f7:f7f7", Blocked::Transition), // client 8.8.8.8
            // Public IPv4 inside forms that do not reach it for real.
            ("::8.8.8.8", Blocked::Transition),
            ("2002:808:808::1", Blocked::Transition),
        ] {
            assert_eq!(check(ip), Some(why), "{ip}");
        }
        assert_eq!(check("::ffff:8.8.8.8"), None);
        assert_eq!(check("64:ff9b::8.8.8.8"), None);
    }

    #[test]
    fn only_global_unicast_minus_the_special_purpose_registry_passes() {
        for (ip, why) in [
            ("100::1", Blocked::Reserved),
            ("100:0:0:1::1", Blocked::Reserved),
            ("5f00::1", Blocked::Reserved),
            ("1::1", Blocked::Reserved),
            ("4000::1", Blocked::Reserved),
            ("e000::1", Blocked::Reserved),
            ("2001:2::1", Blocked::Reserved),
            ("2001:1::1", Blocked::Reserved),
            ("2001:10::1", Blocked::Reserved),
            ("2001:1ff::1", Blocked::Reserved),
            ("2001:db8:ffff::1", Blocked::Reserved),
            ("3fff::1", Blocked::Reserved),
            ("3fff:fff::1", Blocked::Reserved),
        ] {
            assert_eq!(check(ip), Some(why), "{ip}");
        }
        for ip in [
            "2001:200::1",
            "2001:db7::1",
            "2001:db9::1",
            "2003::1",
            "2620:4f:8000::1",
            "3ffe:ffff::1",
            "3fff:1000::1",
        ] {
            assert_eq!(check(ip), None, "{ip}");
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn v6(bits: u128) -> Ipv6Addr {
            Ipv6Addr::from(bits)
        }

        /// IPv4 addresses drawn so every blocked range is hit often, not just by chance.
        fn any_v4() -> impl Strategy<Value = Ipv4Addr> {
            prop_oneof![
                any::<u32>().prop_map(Ipv4Addr::from),
                (
                    any::<u32>(),
                    prop::sample::select(vec![
                        [127u8, 0, 0, 0],
                        [10, 0, 0, 0],
                        [192, 168, 0, 0],
                        [172, 16, 0, 0],
                        [169, 254, 0, 0],
                        [100, 64, 0, 0],
                        [0, 0, 0, 0],
                        [224, 0, 0, 0],
                    ])
                )
                    .prop_map(|(low, net)| Ipv4Addr::from(
                        u32::from(Ipv4Addr::from(net)) | (low & 0xffff)
                    )),
            ]
        }

        proptest! {
            /// Every IPv6 spelling of an IPv4 address: a blocked IPv4 is blocked for the same
            /// reason in every form; a public one passes only where it is really reached.
            #[test]
            fn embedded_ipv4_never_passes_a_blocked_address(v4 in any_v4(), port in any::<u16>(), flags in any::<u16>()) {
                let n = u128::from(u32::from(v4));
                let inner = blocked_v4(v4);
                let reaching = [
                    (0xffffu128 << 32) | n,                              // ::ffff:a.b.c.d
                    (0x0064_ff9b_u128 << 96) | n,                        // 64:ff9b::a.b.c.d
                ];
                let transition = [
                    (0xffff_0000u128 << 32) | n,                         // ::ffff:0:a.b.c.d
                    (0x2002u128 << 112) | (n << 80) | u128::from(port),  // 2002:AABB:CCDD::
                    (0x2001_0000u128 << 96) | (u128::from(flags) << 48) | u128::from(!u32::from(v4)), // Teredo
                    (0x0064_ff9b_0001u128 << 80) | n,                    // 64:ff9b:1::a.b.c.d
                ];
                for bits in reaching {
                    prop_assert_eq!(blocked(IpAddr::V6(v6(bits))), inner, "{}", v6(bits));
                }
                for bits in transition {
                    let got = blocked(IpAddr::V6(v6(bits)));
                    prop_assert!(got.is_some(), "{} passed", v6(bits));
                    if inner.is_some() && (bits >> 80) != 0x0064_ff9b_0001 {
                        prop_assert_eq!(got, inner, "{}", v6(bits));
                    }
                }
                // ::a.b.c.d (IPv4-compatible), apart from :: and ::1.
                if n > 1 {
                    prop_assert!(blocked(IpAddr::V6(v6(n))).is_some());
                }
            }

            /// Outside 2000::/3 only the two forms that reach a public IPv4 address pass.
            #[test]
            fn nothing_outside_global_unicast_passes(bits in any::<u128>()) {
                let ip = v6(bits);
                let global = bits >> 125 == 0b001;
                let via_v4 = bits >> 32 == 0xffff || bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000;
                if blocked(IpAddr::V6(ip)).is_none() {
                    prop_assert!(global || via_v4, "{ip} passed");
                }
            }

            /// Inside 2000::/3, the registry's non-global ranges are refused and the rest passes.
            #[test]
            fn global_unicast_passes_except_the_registry(low in any::<u128>(), top in 0x2000u16..0x4000) {
                let bits = (u128::from(top) << 112) | (low & ((1u128 << 112) - 1));
                let ip = v6(bits);
                let listed = NOT_GLOBAL_V6.iter().any(|(net, len, _)| in_v6(bits, *net, *len));
                prop_assert_eq!(blocked(IpAddr::V6(ip)).is_some(), listed, "{}", ip);
            }
        }
    }
}
