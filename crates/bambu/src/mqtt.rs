//! MQTT 3.1.1 packets (OASIS standard, §2–3), only the ones a Bambu printer's broker and its
//! clients exchange: CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH (QoS 0 and 1)/PUBACK,
//! PINGREQ/PINGRESP and DISCONNECT.
//!
//! Invariants: [`decode`] never reads past its input and refuses a packet larger than
//! [`MAX_PACKET`] before buffering it (threat: a peer announcing a 256 MiB packet to exhaust
//! memory); the CONNECT password (the printer's access code) is a [`SecretString`] and never
//! shows in `Debug`.

use pw_credentials::SecretString;

/// Largest packet accepted (a full H2D status report is about 32 KiB; 3MF files go over FTPS).
pub const MAX_PACKET: usize = 4 * 1024 * 1024;

/// CONNACK return codes (§3.2.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectReturn {
    /// Connection accepted.
    Accepted,
    /// 1: unacceptable protocol version.
    BadProtocol,
    /// 2: identifier rejected.
    IdentifierRejected,
    /// 3: server unavailable.
    Unavailable,
    /// 4: bad user name or password.
    BadCredentials,
    /// 5: not authorized.
    NotAuthorized,
}

impl ConnectReturn {
    fn code(self) -> u8 {
        match self {
            Self::Accepted => 0,
            Self::BadProtocol => 1,
            Self::IdentifierRejected => 2,
            Self::Unavailable => 3,
            Self::BadCredentials => 4,
            Self::NotAuthorized => 5,
        }
    }

    fn from_code(code: u8) -> Result<Self, MqttError> {
        Ok(match code {
            0 => Self::Accepted,
            1 => Self::BadProtocol,
            2 => Self::IdentifierRejected,
            3 => Self::Unavailable,
            4 => Self::BadCredentials,
            5 => Self::NotAuthorized,
            _ => return Err(MqttError::Malformed("unknown CONNACK return code")),
        })
    }
}

/// One packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Client → broker: the session's first packet.
    Connect {
        /// Client identifier.
        client_id: String,
        /// User name (`bblp`).
        username: Option<String>,
        /// Password (the access code).
        password: Option<SecretString>,
        /// Keep-alive in seconds.
        keep_alive: u16,
        /// Clean-session flag.
        clean_session: bool,
    },
    /// Broker → client.
    ConnAck {
        /// Session present flag.
        session_present: bool,
        /// The verdict.
        code: ConnectReturn,
    },
    /// Client → broker.
    Subscribe {
        /// Packet id.
        id: u16,
        /// Topic filters with requested QoS.
        topics: Vec<(String, u8)>,
    },
    /// Broker → client: granted QoS per topic (0x80 = failure).
    SubAck {
        /// Packet id.
        id: u16,
        /// Return codes.
        codes: Vec<u8>,
    },
    /// Either way.
    Publish {
        /// Topic name.
        topic: String,
        /// QoS 0 or 1.
        qos: u8,
        /// Packet id (QoS 1 only).
        id: Option<u16>,
        /// Retain flag.
        retain: bool,
        /// Payload bytes.
        payload: Vec<u8>,
    },
    /// Acknowledges a QoS 1 publish.
    PubAck {
        /// Packet id.
        id: u16,
    },
    /// Client → broker: stop sending these topic filters.
    Unsubscribe {
        /// Packet id.
        id: u16,
        /// Topic filters.
        topics: Vec<String>,
    },
    /// Broker → client: the unsubscribe is done (MQTT 3.1.1 §3.11).
    UnsubAck {
        /// Packet id.
        id: u16,
    },
    /// Keep-alive probe.
    PingReq,
    /// Keep-alive answer.
    PingResp,
    /// Orderly end.
    Disconnect,
}

/// Why bytes are not a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MqttError {
    /// The bytes break the standard.
    #[error("malformed MQTT packet: {0}")]
    Malformed(&'static str),
    /// The packet announces more than [`MAX_PACKET`] bytes.
    #[error("MQTT packet of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// A packet type this implementation does not speak (QoS 2, UNSUBSCRIBE…).
    #[error("unsupported MQTT packet type {0}")]
    Unsupported(u8),
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    // Strings are capped at 65,535 bytes by the format; longer input is cut, never wrapped.
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    put_u16(out, len);
    out.extend_from_slice(&s[..usize::from(len)]);
}

fn put_remaining_length(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
}

/// Appends the wire form of `packet` to `out`.
pub fn encode(packet: &Packet, out: &mut Vec<u8>) {
    let mut body = Vec::new();
    let header = match packet {
        Packet::Connect {
            client_id,
            username,
            password,
            keep_alive,
            clean_session,
        } => {
            put_str(&mut body, b"MQTT");
            body.push(4); // protocol level 3.1.1
            let mut flags = 0u8;
            if *clean_session {
                flags |= 0x02;
            }
            if password.is_some() {
                flags |= 0x40;
            }
            if username.is_some() {
                flags |= 0x80;
            }
            body.push(flags);
            put_u16(&mut body, *keep_alive);
            put_str(&mut body, client_id.as_bytes());
            if let Some(u) = username {
                put_str(&mut body, u.as_bytes());
            }
            if let Some(p) = password {
                put_str(&mut body, p.expose().as_bytes());
            }
            0x10
        }
        Packet::ConnAck {
            session_present,
            code,
        } => {
            body.push(u8::from(*session_present));
            body.push(code.code());
            0x20
        }
        Packet::Publish {
            topic,
            qos,
            id,
            retain,
            payload,
        } => {
            put_str(&mut body, topic.as_bytes());
            if *qos > 0 {
                put_u16(&mut body, id.unwrap_or(1));
            }
            body.extend_from_slice(payload);
            0x30 | ((qos & 0x03) << 1) | u8::from(*retain)
        }
        Packet::PubAck { id } => {
            put_u16(&mut body, *id);
            0x40
        }
        Packet::Subscribe { id, topics } => {
            put_u16(&mut body, *id);
            for (t, q) in topics {
                put_str(&mut body, t.as_bytes());
                body.push(*q);
            }
            0x82
        }
        Packet::SubAck { id, codes } => {
            put_u16(&mut body, *id);
            body.extend_from_slice(codes);
            0x90
        }
        Packet::Unsubscribe { id, topics } => {
            put_u16(&mut body, *id);
            for t in topics {
                put_str(&mut body, t.as_bytes());
            }
            0xA2
        }
        Packet::UnsubAck { id } => {
            put_u16(&mut body, *id);
            0xB0
        }
        Packet::PingReq => 0xC0,
        Packet::PingResp => 0xD0,
        Packet::Disconnect => 0xE0,
    };
    out.push(header);
    put_remaining_length(out, body.len());
    out.extend_from_slice(&body);
}

/// A cursor over one packet's body.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MqttError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or(MqttError::Malformed("field runs past the packet"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, MqttError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, MqttError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn bytes(&mut self) -> Result<&'a [u8], MqttError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    fn string(&mut self) -> Result<String, MqttError> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| MqttError::Malformed("string is not UTF-8"))
    }

    fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
}

/// Decodes one packet from the start of `buf`: `Ok(None)` when more bytes are needed, else the
/// packet and how many bytes it used.
pub fn decode(buf: &[u8]) -> Result<Option<(Packet, usize)>, MqttError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    let mut shift = 0u32;
    let mut i = 1;
    loop {
        let Some(&byte) = buf.get(i) else {
            return Ok(None);
        };
        len |= usize::from(byte & 0x7F) << shift;
        i += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return Err(MqttError::Malformed("remaining length longer than 4 bytes"));
        }
    }
    if len > MAX_PACKET {
        return Err(MqttError::TooLarge(len));
    }
    let Some(body) = buf.get(i..i + len) else {
        return Ok(None);
    };
    let packet = parse(first, body)?;
    Ok(Some((packet, i + len)))
}

fn parse(first: u8, body: &[u8]) -> Result<Packet, MqttError> {
    let mut r = Reader { buf: body, pos: 0 };
    let kind = first >> 4;
    let packet = match kind {
        1 => {
            let name = r.bytes()?;
            let level = r.u8()?;
            if name != b"MQTT" || level != 4 {
                return Err(MqttError::Malformed("not MQTT 3.1.1"));
            }
            let flags = r.u8()?;
            if flags & 0x01 != 0 {
                return Err(MqttError::Malformed("reserved CONNECT flag set"));
            }
            let keep_alive = r.u16()?;
            let client_id = r.string()?;
            if flags & 0x04 != 0 {
                // A will message: topic and payload, read and ignored.
                r.bytes()?;
                r.bytes()?;
            }
            let username = if flags & 0x80 != 0 {
                Some(r.string()?)
            } else {
                None
            };
            let password = if flags & 0x40 != 0 {
                Some(SecretString::new(
                    String::from_utf8_lossy(r.bytes()?).into_owned(),
                ))
            } else {
                None
            };
            Packet::Connect {
                client_id,
                username,
                password,
                keep_alive,
                clean_session: flags & 0x02 != 0,
            }
        }
        2 => Packet::ConnAck {
            session_present: r.u8()? & 0x01 != 0,
            code: ConnectReturn::from_code(r.u8()?)?,
        },
        3 => {
            let qos = (first >> 1) & 0x03;
            if qos > 1 {
                return Err(MqttError::Unsupported(kind));
            }
            let topic = r.string()?;
            let id = if qos > 0 { Some(r.u16()?) } else { None };
            Packet::Publish {
                topic,
                qos,
                id,
                retain: first & 0x01 != 0,
                payload: r.rest().to_vec(),
            }
        }
        4 => Packet::PubAck { id: r.u16()? },
        8 => {
            if first & 0x0F != 0x02 {
                return Err(MqttError::Malformed("SUBSCRIBE flags must be 0010"));
            }
            let id = r.u16()?;
            let mut topics = Vec::new();
            while r.pos < body.len() {
                let t = r.string()?;
                topics.push((t, r.u8()? & 0x03));
            }
            if topics.is_empty() {
                return Err(MqttError::Malformed("SUBSCRIBE without topics"));
            }
            Packet::Subscribe { id, topics }
        }
        9 => {
            let id = r.u16()?;
            Packet::SubAck {
                id,
                codes: r.rest().to_vec(),
            }
        }
        10 => {
            if first & 0x0F != 0x02 {
                return Err(MqttError::Malformed("UNSUBSCRIBE flags must be 0010"));
            }
            let id = r.u16()?;
            let mut topics = Vec::new();
            while r.pos < body.len() {
                topics.push(r.string()?);
            }
            if topics.is_empty() {
                return Err(MqttError::Malformed("UNSUBSCRIBE without topics"));
            }
            Packet::Unsubscribe { id, topics }
        }
        11 => Packet::UnsubAck { id: r.u16()? },
        12 => Packet::PingReq,
        13 => Packet::PingResp,
        14 => Packet::Disconnect,
        other => return Err(MqttError::Unsupported(other)),
    };
    Ok(packet)
}

/// Whether a subscription's topic filter matches a topic name: `+` stands for one level, a
/// trailing `#` for any number of levels (including none), as MQTT 3.1.1 §4.7 defines them.
#[must_use]
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let mut levels = topic.split('/');
    for part in filter.split('/') {
        match (part, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (p, Some(l)) if p == l => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(p: &Packet) {
        let mut wire = Vec::new();
        encode(p, &mut wire);
        let (back, used) = decode(&wire).unwrap().unwrap();
        assert_eq!(used, wire.len());
        assert_eq!(&back, p);
        // Every strict prefix asks for more bytes instead of failing or panicking.
        for cut in 0..wire.len() {
            assert_eq!(decode(&wire[..cut]).unwrap(), None, "prefix {cut}");
        }
    }

    #[test]
    fn every_packet_round_trips() {
        round_trip(&Packet::Connect {
            client_id: "printwarden-01P00A".into(),
            username: Some("bblp".into()),
            password: Some(SecretString::new("12345678".into())),
            keep_alive: 30,
            clean_session: true,
        });
        round_trip(&Packet::ConnAck {
            session_present: false,
            code: ConnectReturn::BadCredentials,
        });
        round_trip(&Packet::Subscribe {
            id: 7,
            topics: vec![("device/01P00A/report".into(), 0)],
        });
        round_trip(&Packet::SubAck {
            id: 7,
            codes: vec![0],
        });
        round_trip(&Packet::Publish {
            topic: "device/01P00A/request".into(),
            qos: 1,
            id: Some(3),
            retain: false,
            payload: br#"{"pushing":{"command":"pushall"}}"#.to_vec(),
        });
        round_trip(&Packet::Publish {
            topic: "t".into(),
            qos: 0,
            id: None,
            retain: false,
            payload: vec![0; 20_000],
        });
        round_trip(&Packet::PubAck { id: 3 });
        round_trip(&Packet::PingReq);
        round_trip(&Packet::PingResp);
        round_trip(&Packet::Disconnect);
    }

    /// A CONNECT as the MQTT 3.1.1 standard's own layout spells it (§3.1), byte by byte.
    #[test]
    fn connect_matches_the_standard_layout() {
        let mut wire = Vec::new();
        encode(
            &Packet::Connect {
                client_id: "c".into(),
                username: Some("u".into()),
                password: Some(SecretString::new("p".into())),
                keep_alive: 60,
                clean_session: true,
            },
            &mut wire,
        );
        assert_eq!(
            wire,
            [
                0x10, 19, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 60, 0, 1, b'c', 0, 1, b'u', 0,
                1, b'p'
            ]
        );
        let debug = format!("{:?}", decode(&wire).unwrap().unwrap().0);
        assert!(!debug.contains("\"p\""), "{debug}");
    }

    #[test]
    fn oversized_and_malformed_packets_are_refused() {
        // Remaining length 0x0FFFFFFF (268 MB) is refused before any body arrives.
        assert_eq!(
            decode(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]),
            Err(MqttError::TooLarge(268_435_455))
        );
        assert!(decode(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]).is_err());
        // A topic length pointing past the packet.
        assert!(decode(&[0x30, 3, 0, 9, b'a']).is_err());
        // QoS 2 and unknown types.
        assert_eq!(decode(&[0x34, 0]), Err(MqttError::Unsupported(3)));
        assert_eq!(decode(&[0xF0, 0]), Err(MqttError::Unsupported(15)));
    }

    #[test]
    fn unsubscribe_round_trips_and_filters_match_like_mqtt() {
        round_trip(&Packet::Unsubscribe {
            id: 9,
            topics: vec!["device/+/report".into(), "#".into()],
        });
        round_trip(&Packet::UnsubAck { id: 9 });
        let t = "device/01P00A000000001/report";
        for (filter, hit) in [
            (t, true),
            ("device/+/report", true),
            ("device/#", true),
            ("#", true),
            ("+/+/+", true),
            ("device/+", false),
            ("device/+/request", false),
            ("device/01P00A000000001/report/x", false),
            ("+", false),
        ] {
            assert_eq!(topic_matches(filter, t), hit, "{filter}");
        }
    }
}
