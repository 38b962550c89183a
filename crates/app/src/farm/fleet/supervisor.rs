//! One printer's supervisor: connects with the opened access code and the pinned certificate,
//! reconnects with jittered backoff, pings and replaces only a connection whose ping goes
//! unanswered (a quiet printer is not a dead one), carries commands and matches replies, and
//! stops before any reconnect when the certificate changed.
//! It announces `printer.offline` when a connected printer is lost (once, until it is back),
//! then `printer.online`, and `printer.certificate_changed` once per changed certificate.

use super::*;
use crate::notify::events::{Notice, NoticeEvent};

// ---- Keep-alive and full-status refresh (docs/ARCHITECTURE.md, "Printer connections") ----

/// PINGREQ interval: the keep-alive announced in CONNECT. Idle P1/A1 printers publish nothing
/// (their firmware sends deltas only when something changes), so silence proves nothing; the
/// broker's answer to a ping does.
const PING_EVERY: Duration = Duration::from_secs(pw_bambu::session::KEEP_ALIVE_SECS as u64);

/// A PINGREQ with no packet at all from the printer this long after it was sent: the
/// connection is dead (Wi-Fi gone while TCP looks open) and is replaced. With [`PING_EVERY`] a
/// dead link is noticed at most 1.5 × keep-alive after the printer's last packet, the bound
/// MQTT 3.1.1 (§3.1.2.10) sets for a broker facing a silent client.
const PONG_WAIT: Duration = Duration::from_secs(15);

/// A printer silent this long is asked for its full status (`pushall`), and never sooner than
/// this after the previous request: OpenBambuAPI's `mqtt.md` (section `pushing.pushall`)
/// advises at least 5 minutes between pushalls on a P1P, which lags otherwise. X1 printers
/// report every second, so they are never asked after connecting.
const PUSHALL_AFTER: Duration = Duration::from_secs(300);

/// How long a dropped connection counts on the printer card ("dropped N times in the last
/// hour").
pub(super) const DROPS_WINDOW_MS: i64 = 3_600_000;

// ---- end keep-alive ----

/// Longest pause between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// After a refused access code, wait this long (or for an edit) before trying again: the
/// printer throttles failed logins.
const AUTH_RETRY: Duration = Duration::from_secs(300);

/// Up to ±25 % of `d`, so a farm of printers that lost Wi-Fi together does not reconnect in
/// lockstep.
fn jittered(d: Duration) -> Duration {
    let r = random::<2>().map_or(0, u16::from_le_bytes);
    let factor = 0.75 + f64::from(r) / f64::from(u16::MAX) * 0.5;
    d.mul_f64(factor)
}

/// What ended a session.
enum Ended {
    /// The connection failed or went stale; reconnect with backoff.
    Lost(String),
    /// Settings changed; reconnect at once.
    Woken,
}

pub(super) struct Supervisor {
    pub(super) app: App,
    pub(super) id: PrinterId,
    pub(super) live: watch::Sender<Live>,
    pub(super) wake: Arc<Notify>,
    /// The printer was connected since the last `printer.offline` (or since the start).
    pub(super) was_online: std::sync::atomic::AtomicBool,
    /// `printer.offline` went out and `printer.online` not yet.
    pub(super) announced_offline: std::sync::atomic::AtomicBool,
}

impl Supervisor {
    fn publish(&self, change: impl FnOnce(&mut Live)) {
        self.live.send_modify(change);
        self.app.fleet.announce(self.id, false);
    }

    fn set(&self, connection: Connection, problem: Option<String>) {
        use std::sync::atomic::Ordering::SeqCst;
        match connection {
            Connection::Online => {
                self.was_online.store(true, SeqCst);
                if self.announced_offline.swap(false, SeqCst) {
                    self.announce(NoticeEvent::PrinterOnline, None);
                }
            }
            // A reconnect's passing state, or a state with a notice of its own.
            Connection::Connecting | Connection::CertificateChanged => {}
            Connection::Offline | Connection::CertificateRefused | Connection::BadAccessCode => {
                if self.was_online.swap(false, SeqCst) && !self.announced_offline.swap(true, SeqCst)
                {
                    self.announce(NoticeEvent::PrinterOffline, problem.clone());
                }
            }
        }
        self.publish(|l| {
            l.connection = connection;
            l.problem = problem;
        });
    }

    /// Announces a connection notice (webhooks, push services).
    fn announce(&self, event: NoticeEvent, reason: Option<String>) {
        let Some(p) = self.app.notice_printer(self.id) else {
            return;
        };
        let text = match (event, &reason) {
            (NoticeEvent::PrinterOffline, Some(why)) => {
                format!("{} went offline: {}", p.name, why.trim_end_matches('.'))
            }
            (NoticeEvent::PrinterOffline, None) => format!("{} went offline.", p.name),
            (NoticeEvent::PrinterCertificateChanged, _) => format!(
                "{} presented a different certificate; nothing is sent to it until a user with printers:trust approves it.",
                p.name
            ),
            _ => format!("{} is back online.", p.name),
        };
        let text = if text.ends_with('.') {
            text
        } else {
            format!("{text}.")
        };
        let mut notice = Notice::new(event, self.app.now(), p, text);
        notice.reason = reason;
        self.app.queue_notice(notice);
    }

    /// Waits for a wake-up or `d`, whichever comes first.
    async fn pause(&self, d: Duration) {
        tokio::select! {
            () = self.wake.notified() => {}
            () = tokio::time::sleep(d) => {}
        }
    }

    pub(super) async fn run(self, mut commands: mpsc::Receiver<Request>) {
        let mut backoff = Duration::from_secs(1);
        // Unique per session: MQTT brokers disconnect an existing client when another
        // connects with the same id, so two printwarden nodes watching one printer with
        // `printwarden-<id>` alone would knock each other off in a loop.
        let suffix = crate::core::clock::random::<4>()
            .map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>())
            .unwrap_or_default();
        let client_id = format!("printwarden-{}-{suffix}", self.id);
        loop {
            let row = match self.app.store.printer(self.id).await {
                Ok(Some(row)) => row,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(printer = %self.id, error = %e, "printer not read; retrying");
                    self.pause(Duration::from_secs(5)).await;
                    continue;
                }
            };
            if row.presented_sha256.is_some() {
                // A changed certificate waits for a human; no attempt, no access code sent.
                self.set(
                    Connection::CertificateChanged,
                    Some("The printer presented a different certificate. A user with printers:trust must approve it.".to_owned()),
                );
                refuse_all(&mut commands);
                self.wake.notified().await;
                continue;
            }
            let access_code = match self
                .app
                .open(&row.access_code, &access_code_context(self.id))
            {
                Ok(code) => code,
                Err(e) => {
                    tracing::error!(printer = %self.id, error = %e, "access code cannot be opened");
                    self.set(
                        Connection::Offline,
                        Some("The stored access code cannot be read; enter it again.".to_owned()),
                    );
                    self.wake.notified().await;
                    continue;
                }
            };
            let pin = row.pinned_sha256.as_deref().and_then(Fingerprint::parse);
            let verifier = PrinterVerifier::new(&row.serial, pin, self.app.printer_roots());
            let endpoint = Endpoint {
                host: row.host.clone(),
                port: row.mqtt_port,
                serial: row.serial.clone(),
                access_code,
            };
            self.set(Connection::Connecting, None);
            match Session::connect(&endpoint, &verifier, &client_id).await {
                Ok(session) => {
                    backoff = Duration::from_secs(1);
                    if pin.is_none() {
                        self.pin_first_use(session.fingerprint).await;
                    }
                    self.set(Connection::Online, None);
                    match self.session(session, &mut commands).await {
                        Ended::Woken => continue,
                        Ended::Lost(why) => {
                            tracing::info!(printer = %self.id, why, "printer connection lost");
                            self.set(Connection::Offline, Some(why));
                        }
                    }
                }
                Err(SessionError::Certificate(Refused::Changed { presented, .. })) => {
                    self.certificate_changed(&presented).await;
                    continue;
                }
                Err(SessionError::Certificate(refused)) => {
                    self.set(Connection::CertificateRefused, Some(refused.to_string()));
                    refuse_all(&mut commands);
                    self.pause(MAX_BACKOFF).await;
                    continue;
                }
                Err(SessionError::BadAccessCode) => {
                    self.set(
                        Connection::BadAccessCode,
                        Some("The printer refused the access code. It changes when LAN mode or Developer Mode is switched; enter the new one.".to_owned()),
                    );
                    refuse_all(&mut commands);
                    self.pause(AUTH_RETRY).await;
                    continue;
                }
                Err(e) => {
                    self.set(Connection::Offline, Some(e.to_string()));
                }
            }
            refuse_all(&mut commands);
            self.pause(jittered(backoff)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn pin_first_use(&self, fingerprint: Fingerprint) {
        let hex = fingerprint.to_hex();
        if let Err(e) = self
            .app
            .store
            .set_printer_certificate(self.id, Some(&hex), None, self.app.now())
            .await
        {
            tracing::error!(printer = %self.id, error = %e, "certificate pin not stored");
            return;
        }
        self.app
            .audit(
                &Actor::system(),
                AuditEvent::PrinterCertificatePinned,
                Some(("printer", self.id.to_string())),
                true,
                serde_json::json!({ "sha256": hex }),
            )
            .await;
    }

    async fn certificate_changed(&self, presented: &str) {
        let pinned = match self.app.store.printer(self.id).await {
            Ok(Some(row)) => row.pinned_sha256,
            _ => None,
        };
        if let Err(e) = self
            .app
            .store
            .set_printer_certificate(self.id, pinned.as_deref(), Some(presented), self.app.now())
            .await
        {
            tracing::error!(printer = %self.id, error = %e, "changed certificate not recorded");
        }
        tracing::warn!(printer = %self.id, presented, "printer certificate changed; waiting for approval");
        self.app
            .audit(
                &Actor::system(),
                AuditEvent::PrinterCertificateChanged,
                Some(("printer", self.id.to_string())),
                false,
                serde_json::json!({ "pinned": pinned, "presented": presented }),
            )
            .await;
        self.announce(NoticeEvent::PrinterCertificateChanged, None);
    }

    /// Runs one session until it ends; a lost session counts as a drop on the printer card.
    async fn session(&self, session: Session, commands: &mut mpsc::Receiver<Request>) -> Ended {
        let ended = self.serve(session, commands).await;
        if matches!(ended, Ended::Lost(_)) {
            let now = self.app.now();
            // Published with the Offline state that follows.
            self.live.send_modify(|l| {
                l.drops.retain(|at| now - at < DROPS_WINDOW_MS);
                l.drops.push(now);
            });
        }
        ended
    }

    /// The session loop: reports in, commands out, keep-alive pings, a `pushall` for a printer
    /// silent for [`PUSHALL_AFTER`]. Only an unanswered ping or a failed read or write ends it:
    /// a quiet printer is not a dead one.
    async fn serve(&self, session: Session, commands: &mut mpsc::Receiver<Request>) -> Ended {
        let Session {
            mut reader,
            mut writer,
            ..
        } = session;
        let mut report = Report::new();
        let mut pending: HashMap<String, oneshot::Sender<Result<Option<Reply>, String>>> =
            HashMap::new();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        // When the oldest unanswered PINGREQ went out; any packet from the printer clears it.
        let mut unanswered: Option<tokio::time::Instant> = None;
        // `Session::connect` sent a pushall.
        let mut last_report = tokio::time::Instant::now();
        let mut last_pushall = last_report;
        loop {
            let dead = async {
                match unanswered {
                    Some(sent) => tokio::time::sleep_until(sent + PONG_WAIT).await,
                    None => std::future::pending().await,
                }
            };
            let pushall = tokio::time::sleep_until(last_report.max(last_pushall) + PUSHALL_AFTER);
            tokio::select! {
                inbound = reader.next() => {
                    let inbound = match inbound {
                        Ok(i) => i,
                        Err(e) => return Ended::Lost(e.to_string()),
                    };
                    unanswered = None;
                    let Inbound::Report(payload) = inbound else { continue };
                    last_report = tokio::time::Instant::now();
                    match apply_report(&self.app, self.id, &self.live, &mut report, &payload) {
                        Ok(Frame::Status) => {}
                        Ok(Frame::Reply(reply)) => {
                            if reply.verify_failed() {
                                self.publish(|l| l.developer_mode_off = true);
                            }
                            let waiting = reply.sequence_id.clone().and_then(|s| pending.remove(&s));
                            if let Some(tx) = waiting {
                                let _ = tx.send(Ok(Some(reply)));
                            }
                        }
                        Ok(Frame::Other(_)) => {}
                        Err(e) => tracing::debug!(printer = %self.id, error = %e, "unreadable report"),
                    }
                }
                request = commands.recv() => {
                    let Some(request) = request else { return Ended::Lost("stopped".to_owned()) };
                    match writer.send(&request.command).await {
                        Ok(seq) => {
                            pending.retain(|_, tx| !tx.is_closed());
                            pending.insert(seq.to_string(), request.reply);
                        }
                        Err(e) => {
                            let _ = request.reply.send(Err(e.to_string()));
                            return Ended::Lost(e.to_string());
                        }
                    }
                }
                _ = ping.tick() => {
                    unanswered.get_or_insert_with(tokio::time::Instant::now);
                    if let Err(e) = writer.ping().await {
                        return Ended::Lost(e.to_string());
                    }
                }
                () = dead => {
                    return Ended::Lost(
                        "The printer stopped answering on its network connection; reconnecting.".to_owned(),
                    );
                }
                () = pushall => {
                    // The full status answers on the report topic like any report; no reply
                    // is awaited.
                    last_pushall = tokio::time::Instant::now();
                    if let Err(e) = writer.send(&Command::PushAll).await {
                        return Ended::Lost(e.to_string());
                    }
                }
                () = self.wake.notified() => {
                    writer.disconnect().await;
                    return Ended::Woken;
                }
            }
        }
    }
}

/// One report payload from a printer's session: merged into its report state and, when it was
/// a status push, published as the printer's live state (the fleet's event bus tells every
/// listener once). The supervisor's path for each report, and the fan-in bench's
/// (`examples/fanin_bench.rs`), so the bench measures what the server does.
pub(crate) fn apply_report(
    app: &App,
    id: PrinterId,
    live: &watch::Sender<Live>,
    report: &mut Report,
    payload: &[u8],
) -> Result<Frame, pw_bambu::report::ReportError> {
    let frame = report.apply(payload)?;
    if matches!(frame, Frame::Status) {
        let status = report.status();
        let off = status.developer_mode == Some(false)
            || status
                .hms
                .iter()
                .any(pw_bambu::report::Hms::is_verify_failed);
        let now = app.now();
        if status.gcode_state.is_busy() {
            // The printer reports the job: its busy state guards it now.
            app.fleet.claims.seen_busy(id);
        }
        live.send_modify(|l| {
            l.status = Some(status);
            l.developer_mode_off = off;
            l.last_report_ms = Some(now);
        });
        app.fleet.announce(id, false);
    }
    Ok(frame)
}

/// Answers queued commands while the printer is not connected.
fn refuse_all(commands: &mut mpsc::Receiver<Request>) {
    while let Ok(r) = commands.try_recv() {
        let _ = r.reply.send(Err("the printer is not connected".to_owned()));
    }
}
