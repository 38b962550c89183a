//! Which addresses an outbound request made on a user's behalf may reach (SPEC S7, SSRF).
//! Pure classification; the guard that resolves names and connects lives in `pw-app`.
//!
//! Invariant: an address is judged by what it *is*, whatever its spelling: IPv4-mapped
//! (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4
//! (`2002::/16`) IPv6 forms are judged as the IPv4 address they carry (threat: `[::ffff:7f00:1]`
//! reaching loopback past a check that only knows IPv4 ranges).

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
    /// 240/4, 192.0.0/24, benchmarking 198.18/15, documentation ranges, 2001:db8::/32, 100::/64.
    Reserved,
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

fn blocked_v6(ip: Ipv6Addr) -> Option<Blocked> {
    let bits = u128::from(ip);
    let seg = ip.segments();
    // Forms that carry an IPv4 address are judged as that address.
    if let Some(v4) = embedded_v4(ip) {
        return blocked_v4(v4);
    }
    if bits == 0 {
        return Some(Blocked::Unspecified);
    }
    if ip == Ipv6Addr::LOCALHOST {
        return Some(Blocked::Loopback);
    }
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        return Some(Blocked::Metadata);
    }
    let prefix = |net: u128, len: u32| {
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        bits & mask == net & mask
    };
    if seg[0] & 0xff00 == 0xff00 {
        Some(Blocked::Multicast)
    } else if seg[0] & 0xffc0 == 0xfe80 {
        Some(Blocked::LinkLocal)
    } else if seg[0] & 0xffc0 == 0xfec0 {
        Some(Blocked::SiteLocal)
    } else if seg[0] & 0xfe00 == 0xfc00 {
        Some(Blocked::UniqueLocal)
    } else if prefix(0x2001_0db8 << 96, 32) || prefix(0x0100 << 112, 64) {
        Some(Blocked::Reserved)
    } else {
        None
    }
}

/// The IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let seg = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1.
    if bits >> 32 == 0 && bits > 1 {
        return Some(low32);
    }
    // 64:ff9b::/96 (NAT64 well-known prefix).
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return Some(low32);
    }
    // 2002:AABB:CCDD::/48 (6to4) carries AA.BB.CC.DD.
    if seg[0] == 0x2002 {
        let [a, b] = seg[1].to_be_bytes();
        let [c, d] = seg[2].to_be_bytes();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
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
        ] {
            assert_eq!(check(ip), Some(why), "{ip}");
        }
        assert_eq!(check("::ffff:8.8.8.8"), None);
        assert_eq!(check("64:ff9b::8.8.8.8"), None);
        assert_eq!(check("2002:808:808::1"), None);
    }
}
