//! The control socket of `printwarden simulate`: a Unix socket (`DIR/control.sock`, owner-only)
//! taking one JSON request per line and answering one JSON line each, so scripts can drive a
//! running simulator the way in-process tests drive [`crate::Printer`]:
//!
//! - `{"command":"print_from_elsewhere","serial":S?,"path":P,"plate":N?,"subtask_name":T?,"url_style":"ftp"|"sdcard"?}`
//!   → `{"ok":true,"job":{subtask_name,task_id,subtask_id,project_id,profile_id}}` (a slicer's
//!   `project_file` for a file already on the card; upload it over FTPS first);
//! - `{"command":"files","serial":S?}` → `{"ok":true,"files":[{path,size}]}`;
//! - `{"command":"fail","serial":S?,"print_error":E?,"hms":[[attr,code]]?}` → fails the running job;
//! - `{"command":"state","serial":S?}` → `{"ok":true,"gcode_state":…,"job":…}`;
//! - `{"command":"finish","serial":S?}` → finishes the running job now, as if its time had run
//!   out (a browser test's fast-forward through a demo print: the server sees the same FINISH
//!   report as at the natural end);
//! - `{"command":"starts","serial":S?}` → `{"ok":true,"starts":[{path,plate,task_id,ams_mapping,accepted}]}`:
//!   every `project_file` the printer received, in order (the oracle for "started once, in
//!   this order").
//! - `{"command":"camera","serial":S?}` → `{"ok":true,"playing":N,"plays":M}`: RTSPS clients
//!   playing the camera now and `PLAY`s accepted since start (X1C; 0 on JPEG models).
//!
//! `serial` defaults to the first printer. Errors answer `{"ok":false,"error":"…"}`.
//!
//! Invariant: the socket only reaches what the in-process handle offers; a malformed line gets
//! an error answer, never ends the simulator.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Farm, Printer, SlicerPrint};

/// One control request.
#[derive(Debug, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// A print started from a slicer for a file on the card.
    PrintFromElsewhere {
        /// Printer (default: the first).
        serial: Option<String>,
        /// The file on the card.
        path: String,
        /// Plate (default 1).
        plate: Option<u32>,
        /// Job name.
        subtask_name: Option<String>,
        /// `ftp` or `sdcard`.
        url_style: Option<String>,
    },
    /// The files on the card.
    Files {
        /// Printer (default: the first).
        serial: Option<String>,
    },
    /// Fail the running job.
    Fail {
        /// Printer (default: the first).
        serial: Option<String>,
        /// `print_error` (default the injected AMS fault `0700_8001`).
        print_error: Option<u32>,
        /// HMS entries as `[attr, code]`.
        hms: Option<Vec<(u32, u32)>>,
    },
    /// The job state and identity.
    State {
        /// Printer (default: the first).
        serial: Option<String>,
    },
    /// Finish the running job now.
    Finish {
        /// Printer (default: the first).
        serial: Option<String>,
    },
    /// The start log.
    Starts {
        /// Printer (default: the first).
        serial: Option<String>,
    },
    /// The RTSPS camera's clients.
    Camera {
        /// Printer (default: the first).
        serial: Option<String>,
    },
}

fn printer<'a>(farm: &'a [Printer], serial: Option<&str>) -> Result<&'a Printer, String> {
    match serial {
        None => farm.first().ok_or_else(|| "no printers".to_owned()),
        Some(s) => farm
            .iter()
            .find(|p| p.info.serial == s)
            .ok_or_else(|| format!("no printer {s}")),
    }
}

/// Answers one request line.
#[must_use]
pub fn answer(printers: &[Printer], line: &str) -> Value {
    let reply = match serde_json::from_str::<Request>(line) {
        Err(e) => Err(format!("bad request: {e}")),
        Ok(request) => run(printers, request),
    };
    match reply {
        Ok(mut v) => {
            v["ok"] = true.into();
            v
        }
        Err(error) => json!({"ok": false, "error": error}),
    }
}

fn run(printers: &[Printer], request: Request) -> Result<Value, String> {
    match request {
        Request::PrintFromElsewhere {
            serial,
            path,
            plate,
            subtask_name,
            url_style,
        } => {
            let p = printer(printers, serial.as_deref())?;
            let job = p.print_from_elsewhere(&SlicerPrint {
                path,
                plate: plate.unwrap_or(1),
                upload: None,
                subtask_name,
                url_style,
            })?;
            Ok(json!({"job": job_json(&job)}))
        }
        Request::Files { serial } => {
            let p = printer(printers, serial.as_deref())?;
            let files: Vec<Value> = p
                .files()
                .into_iter()
                .map(|(path, size)| json!({"path": path, "size": size}))
                .collect();
            Ok(json!({"files": files}))
        }
        Request::Fail {
            serial,
            print_error,
            hms,
        } => {
            let p = printer(printers, serial.as_deref())?;
            let (default_error, default_hms) = crate::machine::INJECTED_FAILURE;
            let hms = hms.unwrap_or_else(|| vec![default_hms]);
            if p.fail_job(print_error.unwrap_or(default_error), &hms) {
                Ok(json!({}))
            } else {
                Err("no job is running".to_owned())
            }
        }
        Request::State { serial } => {
            let p = printer(printers, serial.as_deref())?;
            Ok(json!({
                "gcode_state": p.gcode_state(),
                "job": p.job().as_ref().map(job_json),
            }))
        }
        Request::Finish { serial } => {
            let p = printer(printers, serial.as_deref())?;
            if p.finish_job() {
                Ok(json!({}))
            } else {
                Err("no job is preparing or running".to_owned())
            }
        }
        Request::Starts { serial } => {
            let p = printer(printers, serial.as_deref())?;
            let starts: Vec<Value> = p
                .starts()
                .into_iter()
                .map(|s| {
                    json!({
                        "path": s.path,
                        "plate": s.plate,
                        "task_id": s.task_id,
                        "ams_mapping": s.ams_mapping,
                        "accepted": s.accepted,
                    })
                })
                .collect();
            Ok(json!({"starts": starts}))
        }
        Request::Camera { serial } => {
            let (playing, plays) = printer(printers, serial.as_deref())?.camera_sessions();
            Ok(json!({"playing": playing, "plays": plays}))
        }
    }
}

fn job_json(job: &crate::JobIdentity) -> Value {
    json!({
        "subtask_name": job.subtask_name,
        "task_id": job.task_id,
        "subtask_id": job.subtask_id,
        "project_id": job.project_id,
        "profile_id": job.profile_id,
    })
}

impl Farm {
    /// Serves the control socket at `path` (replacing a stale one) until the farm is dropped.
    #[cfg(unix)]
    pub fn serve_control(&mut self, path: &Path) -> Result<(), crate::SimError> {
        use std::os::unix::fs::PermissionsExt;
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

        let io = |e: std::io::Error| crate::SimError::Io(format!("{}: {e}", path.display()));
        if path.exists() {
            std::fs::remove_file(path).map_err(io)?;
        }
        let listener = tokio::net::UnixListener::bind(path).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        let printers = self.printers.clone();
        self.tasks.push(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let printers = printers.clone();
                tokio::spawn(async move {
                    let (rd, mut wr) = stream.into_split();
                    let mut lines = BufReader::new(rd.take(1024 * 1024)).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line.trim().is_empty() {
                            continue;
                        }
                        let mut out = answer(&printers, &line).to_string();
                        out.push('\n');
                        if wr.write_all(out.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        }));
        self.control = Some(path.to_owned());
        Ok(())
    }
}
