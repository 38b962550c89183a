//! The log sink: formatted lines go through a bounded queue to one writer thread that owns
//! stderr, so a request never waits for the terminal, a pipe or journald.
//!
//! Invariants:
//! - A request thread never blocks on logging: when the queue is full (the sink stalled or fell
//!   far behind) the line is dropped and counted, and the writer reports the count in the log
//!   itself as soon as it catches up (threat: a stalled log reader — a paused terminal, a
//!   wedged journald — would otherwise stall every request, a denial of service by logging).
//! - Nothing queued is lost at a normal exit: [`LogGuard::flush`] (called when a command's
//!   runtime ends, and on drop) waits until every line queued before it is written.
//! - Every line the formatter produced is written whole and unchanged (fields are never cut).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};

/// Lines that may wait for the writer. At a few hundred bytes a line this bounds the queue to a
/// few MiB; a burst larger than this is a sink that stopped reading.
pub const QUEUE_LINES: usize = 16_384;

enum Message {
    Line(Vec<u8>),
    /// Answered once every line queued before it is written.
    Flush(SyncSender<()>),
}

#[derive(Debug)]
struct Shared {
    dropped: AtomicU64,
}

/// Where formatted lines go (a `MakeWriter` for `tracing_subscriber`). Cheap to clone.
#[derive(Clone)]
pub struct NonBlocking {
    queue: SyncSender<Message>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for NonBlocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonBlocking").finish_non_exhaustive()
    }
}

/// Flushes the queue when the command ends.
#[derive(Debug)]
pub struct LogGuard {
    writer: NonBlocking,
}

impl LogGuard {
    /// Waits until every line queued so far is written (or the writer thread is gone).
    pub fn flush(&self) {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        // At exit waiting is right: these are the last lines, often the reason for the exit.
        if self.writer.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Starts the writer thread over `sink` (stderr in the binary). Falls back to `None` when the
/// thread cannot be started; the caller then writes synchronously.
pub fn spawn<W: Write + Send + 'static>(sink: W) -> Option<(NonBlocking, LogGuard)> {
    let (queue, lines) = std::sync::mpsc::sync_channel(QUEUE_LINES);
    let shared = Arc::new(Shared {
        dropped: AtomicU64::new(0),
    });
    let thread_shared = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || run(sink, &lines, &thread_shared))
        .ok()?;
    let writer = NonBlocking { queue, shared };
    Some((
        writer.clone(),
        LogGuard {
            writer: writer.clone(),
        },
    ))
}

/// Lines dropped so far because the queue was full (for tests and the writer's own report).
#[must_use]
pub fn dropped(writer: &NonBlocking) -> u64 {
    writer.shared.dropped.load(Ordering::Relaxed)
}

fn run<W: Write>(sink: W, lines: &Receiver<Message>, shared: &Shared) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, sink);
    let mut reported = 0u64;
    // Blocks for the first message, then takes whatever else is queued before one flush: a
    // burst of lines becomes one write.
    while let Ok(first) = lines.recv() {
        let mut waiting = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Message::Flush(done) => waiting.push(done),
            }
            next = lines.try_recv().ok();
        }
        let dropped = shared.dropped.load(Ordering::Relaxed);
        if dropped != reported {
            let _ = writeln!(
                out,
                "{{\"level\":\"WARN\",\"target\":\"printwarden::log\",\"message\":\"log lines were dropped because the log output did not keep up\",\"dropped_total\":{dropped}}}"
            );
            reported = dropped;
        }
        let _ = out.flush();
        for done in waiting {
            let _ = done.send(());
        }
    }
    let _ = out.flush();
}

/// One formatted line (the formatter writes an event with several `write` calls).
pub struct LineWriter {
    buffer: Vec<u8>,
    writer: NonBlocking,
}

impl std::fmt::Debug for LineWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineWriter").finish_non_exhaustive()
    }
}

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.buffer);
        match self.writer.queue.try_send(Message::Line(line)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.writer.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for NonBlocking {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            buffer: Vec::with_capacity(256),
            writer: self.clone(),
        }
    }
}

/// The process's guard, flushed by [`flush_logs`] when a command ends.
static GUARD: OnceLock<LogGuard> = OnceLock::new();

/// Keeps the guard for the life of the process.
pub fn keep(guard: LogGuard) {
    let _ = GUARD.set(guard);
}

/// Writes out every queued line (called when a command's runtime has finished).
pub fn flush_logs() {
    if let Some(guard) = GUARD.get() {
        guard.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A sink that blocks every write until the test opens the gate.
    struct Gated {
        gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
        inner: Sink,
    }

    impl Write for Gated {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let (open, cond) = &*self.gate;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cond.wait(open).unwrap();
            }
            self.inner.write(bytes)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line(writer: &NonBlocking, text: &str) {
        use tracing_subscriber::fmt::MakeWriter;
        let mut w = writer.make_writer();
        // Written in pieces, as the formatter does; arrives as one line.
        w.write_all(&text.as_bytes()[..3]).unwrap();
        w.write_all(&text.as_bytes()[3..]).unwrap();
    }

    #[test]
    fn flush_writes_every_queued_line_whole_and_in_order() {
        let sink = Sink::default();
        let (writer, guard) = spawn(sink.clone()).unwrap();
        for i in 0..1000 {
            line(&writer, &format!("line number {i}\n"));
        }
        guard.flush();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let expected: String = (0..1000).map(|i| format!("line number {i}\n")).collect();
        assert_eq!(text, expected);
        assert_eq!(dropped(&writer), 0);
    }

    #[test]
    fn a_stalled_sink_drops_and_counts_instead_of_blocking() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let sink = Sink::default();
        let (writer, guard) = spawn(Gated {
            gate: Arc::clone(&gate),
            inner: sink.clone(),
        })
        .unwrap();
        // The writer buffers at most 64 KiB before it blocks on the shut gate; the queue takes
        // QUEUE_LINES more; everything beyond is dropped without waiting (were it waiting,
        // this loop would never end).
        let sent = QUEUE_LINES * 4;
        for i in 0..sent {
            line(&writer, &format!("line {i}\n"));
        }
        let lost = dropped(&writer);
        assert!(lost > 0, "nothing was dropped");
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        guard.flush();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let written = text.lines().filter(|l| l.starts_with("line ")).count();
        assert_eq!(
            written as u64 + lost,
            sent as u64,
            "every line written or counted"
        );
        assert!(
            text.contains(&format!("\"dropped_total\":{lost}")),
            "the drop is reported in the log"
        );
    }
}
