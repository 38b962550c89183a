//! The registry of long-lived background tasks: every task that runs for the life of the
//! application, of a printer or of a camera feed is a [`Task`] here, is started through
//! [`App::spawn_task`] (named, tracked in one `JoinSet`) and is stopped by [`App::stop_tasks`]
//! at shutdown. `docs/ARCHITECTURE.md` lists them from [`Task::ALL`].
//!
//! Not here: per-request fire-and-forget work that ends on its own within a bounded time
//! (recording a session's or key's last use, a password-reset or notification mail, one
//! webhook delivery under the dispatcher's concurrency limit) and blocking-pool calls (password
//! hashing, certificate files). The HTTP listeners are the server itself: `serve.rs` starts and
//! drains them.
//!
//! Invariants: nothing long-lived is started with a bare `tokio::spawn` (a test starts an
//! application and compares what runs with this list); after [`App::stop_tasks`] no task runs
//! and a late start is stopped at once. An application dropped without `stop_tasks` (CLI
//! commands, tests) leaves its tasks to end as they always did (the dispatcher drains its
//! queue once the last sender is gone).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::{AbortHandle, JoinSet};
use tracing::Instrument;

use crate::App;

/// When a task starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Starts {
    /// With the application ([`App::start`]).
    WithApp,
    /// When the server starts its background work ([`App::start_background`]).
    WithServer,
    /// One per printer: at server start, and when a printer is added or edited.
    PerPrinter,
    /// When the first viewer of a printer's camera arrives; ends with the last one.
    OnDemand,
    /// By the server itself, only with generated TLS certificates (`tls = "auto"`).
    WithGeneratedTls,
    /// When an archive entry opens (its file) or ends (its camera frame).
    PerPrint,
}

impl Starts {
    /// In words, for the docs.
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Self::WithApp => "application start",
            Self::WithServer => "server start",
            Self::PerPrinter => "server start and printer add/edit, one per printer",
            Self::OnDemand => "first camera viewer, one per watched printer",
            Self::WithGeneratedTls => "server start with `tls = \"auto\"`",
            Self::PerPrint => {
                "an archive entry opening (its file) or ending (its camera frame), one per step"
            }
        }
    }
}

macro_rules! tasks {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $name:literal, $starts:ident, $ends:literal; )+) => {
        /// A long-lived background task.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Task {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl Task {
            /// Every long-lived task, in the order the docs list them.
            pub const ALL: &'static [Task] = &[$(Task::$variant),+];

            /// The name in logs (the `task` span) and docs.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self { $(Task::$variant => $name,)+ }
            }

            /// When it starts.
            #[must_use]
            pub const fn starts(self) -> Starts {
                match self { $(Task::$variant => Starts::$starts,)+ }
            }

            /// When it ends on its own (besides shutdown).
            #[must_use]
            pub const fn ends(self) -> &'static str {
                match self { $(Task::$variant => $ends,)+ }
            }

            /// What it does (its doc comment).
            #[must_use]
            pub fn purpose(self) -> String {
                match self {
                    $(Task::$variant => [$($doc),+].iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "),)+
                }
            }
        }
    };
}

tasks! {
    /// Delivers audit events from the bounded queue to the webhooks whose filter selects them
    /// (signed, through the SSRF guard, bounded concurrency and retries).
    WebhookDispatcher = "webhook-dispatcher", WithApp, "when the application is dropped and its queue is drained";
    /// Keeps one printer's MQTT session up (backoff, keep-alive pings; only an unanswered ping
    /// ends a session, never a quiet printer), merges its reports into the live status, carries
    /// commands, and waits for approval on a changed certificate.
    PrinterSupervisor = "printer-supervisor", PerPrinter, "when its printer is deleted (an edit restarts it)";
    /// Follows every printer's job state and mails the starters who asked for it.
    PrintMails = "print-mails", WithServer, "never";
    /// Follows every printer's job state and keeps the print archive: opens an entry when a
    /// job starts (through printwarden or elsewhere), ends it on FINISH, FAILED or IDLE.
    ArchiveWatch = "archive-watch", WithServer, "never";
    /// Links an archive entry to its file (the print job's blob, or the file fetched from the
    /// printer over FTPS, parsed and capped) with its plate image and filament use, or takes
    /// its end-of-print camera frame.
    ArchiveMedia = "archive-media", PerPrint, "when the file is kept or refused, or the frame is taken or given up (10 s)";
    /// The print queue's dispatcher: reconciles the items printers work on with the printers'
    /// own reports (first at start, before dispatching), then, on printer events and every
    /// second, claims the next item for each online, idle printer with a clear plate and starts
    /// it through the one start path; follows each run to its end (copies, retries, failures).
    QueueDispatcher = "queue-dispatcher", WithServer, "never";
    /// Deletes sessions past their idle or absolute limit, hourly.
    SessionSweep = "session-sweep", WithServer, "never";
    /// Writes a scheduled backup into the configured directory when one is due and deletes the
    /// oldest beyond the number kept; checks every minute and when the schedule changes.
    BackupSchedule = "backup-schedule", WithServer, "never";
    /// Refreshes each user's Bambu Cloud token three quarters into its lifetime; marks a link
    /// expired (the user signs in again) when Bambu refuses the refresh.
    CloudRefresh = "cloud-refresh", WithServer, "never";
    /// Re-reads settings written by the CLI or another node, every 5 s.
    SettingsReload = "settings-reload", WithServer, "never";
    /// Reads one printer's camera and shares the frames with every viewer.
    CameraFeed = "camera-feed", OnDemand, "when the stream fails, or a few seconds after its last viewer left";
    /// Re-issues the generated server certificate when it nears expiry and hot-swaps it, daily.
    CertificateRenewal = "certificate-renewal", WithGeneratedTls, "never";
}

/// How often expired sessions are deleted from the database.
pub(crate) const SESSION_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// How often settings written by another node or the CLI are picked up (the principal cache
/// revalidates on the same scale).
pub(crate) const SETTINGS_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// The running long-lived tasks.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    inner: Mutex<Inner>,
    /// How many of each task run now (a task's guard counts it down however it ends).
    running: Arc<Mutex<BTreeMap<Task, usize>>>,
}

#[derive(Debug, Default)]
struct Inner {
    set: JoinSet<()>,
    stopped: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without an explicit stop, tasks end as they would have unregistered.
        self.set.detach_all();
    }
}

/// Counts a task as running until it ends, is aborted or is dropped unstarted.
struct Running {
    task: Task,
    running: Arc<Mutex<BTreeMap<Task, usize>>>,
}

impl Running {
    fn new(task: Task, running: &Arc<Mutex<BTreeMap<Task, usize>>>) -> Self {
        *running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(task)
            .or_default() += 1;
        Self {
            task,
            running: Arc::clone(running),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = running.get_mut(&self.task) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.task);
            }
        }
    }
}

impl Tasks {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn spawn<F>(&self, task: Task, future: F) -> AbortHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let guard = Running::new(task, &self.running);
        let future = async move {
            let _guard = guard;
            future.await;
        }
        .instrument(tracing::info_span!("task", name = task.name()));
        let mut inner = self.inner();
        // Finished tasks leave the set here, so restarts do not grow it.
        while inner.set.try_join_next().is_some() {}
        let handle = inner.set.spawn(future);
        if inner.stopped {
            handle.abort();
        }
        handle
    }
}

impl App {
    /// Starts a long-lived task of the registry; the handle stops just this one (a printer's
    /// supervisor). The server starts its own registry tasks here too.
    pub fn spawn_task<F>(&self, task: Task, future: F) -> AbortHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task, future)
    }

    /// Starts the server's background work: the print-job mails, the archive, the queue's
    /// dispatcher, a supervisor for every stored printer, the expired-session sweep and the
    /// settings reload.
    pub async fn start_background(&self) -> Result<(), crate::AppError> {
        self.start_print_mails();
        self.start_archive_watch();
        self.start_dispatcher();
        for row in self.store.list_printers().await? {
            self.supervise(row);
        }
        self.load_plates().await?;
        self.spawn_task(Task::SessionSweep, self.clone().sweep_sessions_hourly());
        self.spawn_task(Task::SettingsReload, self.clone().reload_settings_often());
        self.spawn_task(Task::BackupSchedule, self.clone().run_backup_schedule());
        self.spawn_task(Task::CloudRefresh, self.clone().run_cloud_refresh());
        Ok(())
    }

    /// The plates as persisted, into the fleet (a restart keeps a plate waiting to be cleared
    /// on the cards, and the dispatcher's cache of it).
    pub(crate) async fn load_plates(&self) -> Result<(), crate::AppError> {
        for (printer, plate) in self.store.plates().await? {
            self.fleet.update_plate(printer, |p| *p = plate);
        }
        Ok(())
    }

    /// Stops every registered task and waits until they have ended; tasks started later are
    /// stopped at once. Called by the server's shutdown once the listeners have drained.
    pub async fn stop_tasks(&self) {
        let mut set = {
            let mut inner = self.tasks.inner();
            inner.stopped = true;
            std::mem::take(&mut inner.set)
        };
        set.shutdown().await;
    }

    /// How many of each registered task run now (tests and diagnostics).
    #[must_use]
    pub fn running_tasks(&self) -> BTreeMap<Task, usize> {
        self.tasks
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The registry as a Markdown table, for the generated section of `docs/ARCHITECTURE.md`.
#[must_use]
pub fn background_tasks_markdown() -> String {
    let mut out = String::from(
        "\nGenerated from the task registry (`crates/app/src/core/tasks.rs`, `Task::ALL`).\n\n\
         | Task | Starts at | Ends | What it does |\n|---|---|---|---|\n",
    );
    for task in Task::ALL {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            task.name(),
            task.starts().describe(),
            task.ends(),
            task.purpose()
        );
    }
    out
}
