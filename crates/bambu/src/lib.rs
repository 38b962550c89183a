//! The Bambu Lab LAN protocol as printwarden speaks it: the MQTT 3.1.1 packets both sides
//! exchange ([`mqtt`]), the printer's status reports and how P1-style deltas merge into one
//! state ([`report`]), the commands a client sends ([`command`]), how a printer's TLS
//! certificate is trusted ([`trust`]), the printer models under their codes and names ([`model`]), the client's MQTT session over TLS ([`session`]), the RTSPS camera's RTSP client ([`rtsp`]) and H.264 depacketizer ([`rtp`]), and the fragmented-MP4 muxer that hands its pictures to browsers without transcoding ([`fmp4`]). The server's connection supervisor and the
//! simulator are both built on these, so they cannot disagree about the wire format.
//!
//! Invariant: nothing here panics on input from the network; every parser returns an error or
//! ignores what it does not know.

pub mod camera;
pub mod command;
pub mod fmp4;
pub mod ftps;
pub mod model;
pub mod mqtt;
pub mod report;
pub mod rtp;
pub mod rtsp;
pub mod session;
pub mod trust;
