//! Writing a backup: the database snapshot, then the files, streamed through tar and age into
//! the caller's writer.
//!
//! The database is read first, in one read transaction, then the blob store is walked: content
//! uploaded after the snapshot is carried along harmlessly (nothing names it), and content the
//! snapshot names but a purge deleted before it was copied is listed in the manifest as
//! missing instead of failing the backup.
//!
//! Invariant: memory stays bounded — table rows go out in chunks of [`CHUNK_BYTES`] through a
//! channel of two, and files are streamed from disk by the writer thread.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use pw_credentials::SealingKey;
use pw_store::{Cell, ColumnType, Store};
use sha2::{Digest, Sha256};

use super::names::EntryName;
use super::seal::Sealing;
use super::{
    BLOB_DIR, BackupError, CHUNK_BYTES, COVER, Cover, FORMAT_VERSION, KEY_FILE, MANIFEST, Manifest,
    ManifestEntry, ManifestTable, TLS_DIR,
};

/// What to back up and how to label it.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The server's data directory (its `blobs/` and `tls/` are copied).
    pub data_dir: PathBuf,
    /// The sealing key, only when the operator explicitly asked for it to be inside.
    pub include_key: Option<SealingKey>,
    /// The printwarden version writing it.
    pub app_version: String,
    /// The time of the snapshot (unix ms), for the cover.
    pub created_at_ms: i64,
}

/// What went into a backup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSummary {
    /// Rows per table.
    pub tables: Vec<(String, u64)>,
    /// Content files copied from the blob store.
    pub blobs: u64,
    /// TLS files copied.
    pub tls_files: u64,
    /// Entries in the archive (the manifest included).
    pub entries: u64,
    /// Bytes before encryption (all entries' contents).
    pub content_bytes: u64,
    /// Content the snapshot names that was gone when the files were copied.
    pub missing_blobs: Vec<String>,
    /// Whether the sealing key is inside.
    pub includes_sealing_key: bool,
}

/// One entry for the writer thread.
enum Item {
    Bytes { name: String, data: Vec<u8> },
    File { name: String, path: PathBuf },
    Manifest(Box<Manifest>),
}

/// A reader that hashes and counts what passes through.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = buf.get(..n).unwrap_or_default();
        self.hasher.update(chunk);
        self.count += n as u64;
        Ok(n)
    }
}

fn tar_header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

/// Appends one entry, returning its manifest line.
fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    mtime: u64,
    data: impl Read,
) -> Result<ManifestEntry, BackupError> {
    let mut header = tar_header(size, mtime);
    let mut reader = Hashing {
        inner: data.take(size),
        hasher: Sha256::new(),
        count: 0,
    };
    builder
        .append_data(&mut header, name, &mut reader)
        .map_err(BackupError::io(format!("cannot write the entry {name}")))?;
    if reader.count != size {
        return Err(BackupError::Refused(format!(
            "{name} changed size while it was copied; run the backup again"
        )));
    }
    Ok(ManifestEntry {
        name: name.to_owned(),
        size,
        sha256: hex::encode(reader.hasher.finalize()),
    })
}

/// The writer thread: age around tar around the entries it receives.
fn write_archive(
    mut rx: tokio::sync::mpsc::Receiver<Item>,
    out: Box<dyn Write + Send>,
    sealing: &Sealing,
    mtime: u64,
) -> Result<(u64, u64), BackupError> {
    let encryptor = sealing.encryptor()?;
    let sealed = encryptor
        .wrap_output(std::io::BufWriter::with_capacity(256 * 1024, out))
        .map_err(BackupError::io("cannot start the encrypted file"))?;
    let mut builder = tar::Builder::new(sealed);
    builder.mode(tar::HeaderMode::Deterministic);
    let mut entries: Vec<ManifestEntry> = Vec::new();
    let mut bytes = 0u64;
    while let Some(item) = rx.blocking_recv() {
        match item {
            Item::Bytes { name, data } => {
                let entry = append(
                    &mut builder,
                    &name,
                    data.len() as u64,
                    mtime,
                    data.as_slice(),
                )?;
                bytes += entry.size;
                entries.push(entry);
            }
            Item::File { name, path } => {
                let file = std::fs::File::open(&path)
                    .map_err(BackupError::io(format!("cannot read {}", path.display())))?;
                let size = file
                    .metadata()
                    .map_err(BackupError::io(format!("cannot read {}", path.display())))?
                    .len();
                let entry = append(&mut builder, &name, size, mtime, file)?;
                bytes += entry.size;
                entries.push(entry);
            }
            Item::Manifest(mut manifest) => {
                let count = entries.len() as u64 + 1;
                manifest.entries = std::mem::take(&mut entries);
                let json = serde_json::to_vec_pretty(&manifest)
                    .map_err(|e| BackupError::Refused(format!("cannot write the manifest: {e}")))?;
                bytes += json.len() as u64;
                append(
                    &mut builder,
                    MANIFEST,
                    json.len() as u64,
                    mtime,
                    json.as_slice(),
                )?;
                let sealed = builder
                    .into_inner()
                    .map_err(BackupError::io("cannot end the archive"))?;
                let mut out = sealed
                    .finish()
                    .map_err(BackupError::io("cannot end the encrypted file"))?;
                out.flush()
                    .map_err(BackupError::io("cannot write the backup file"))?;
                return Ok((count, bytes));
            }
        }
    }
    Err(BackupError::Refused(
        "the backup stopped before it was complete".to_owned(),
    ))
}

/// One row as a JSON line (values in column order; bytes as base64 text).
fn json_line(cells: &[Cell], out: &mut Vec<u8>) -> Result<(), BackupError> {
    let values: Vec<serde_json::Value> = cells
        .iter()
        .map(|cell| match cell {
            Cell::Null => serde_json::Value::Null,
            Cell::Int(v) => serde_json::Value::from(*v),
            Cell::Bool(b) => serde_json::Value::from(*b),
            Cell::Text(s) => serde_json::Value::from(s.as_str()),
            Cell::Float(f) => serde_json::Value::from(*f),
            Cell::Bytes(b) => {
                serde_json::Value::from(base64::engine::general_purpose::STANDARD.encode(b))
            }
        })
        .collect();
    serde_json::to_writer(&mut *out, &values)
        .map_err(|e| BackupError::Refused(format!("cannot write a row: {e}")))?;
    out.push(b'\n');
    Ok(())
}

/// The blob store's files (`ab/cd/<sha256>`, regular files only), sorted by hash.
fn list_blobs(root: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let mut out = Vec::new();
    let read = |dir: &Path| -> Result<Vec<std::fs::DirEntry>, BackupError> {
        match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .collect::<Result<Vec<_>, _>>()
                .map_err(BackupError::io(format!("cannot list {}", dir.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(BackupError::io(format!("cannot list {}", dir.display()))(e)),
        }
    };
    for a in read(root)? {
        // Directories only (`tmp` holds uploads in progress, never kept); file_type() does not
        // follow links, so a planted link is not followed out of the store.
        if !a.file_type().is_ok_and(|t| t.is_dir()) || a.file_name() == "tmp" {
            continue;
        }
        for b in read(&a.path())? {
            if !b.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            for file in read(&b.path())? {
                let name = file.file_name().to_string_lossy().into_owned();
                let ok = file.file_type().is_ok_and(|t| t.is_file())
                    && crate::farm::library::blobs::is_sha256(&name)
                    && EntryName::blob_name(&name)
                        == format!(
                            "files/blobs/{}/{}/{name}",
                            a.file_name().to_string_lossy(),
                            b.file_name().to_string_lossy()
                        );
                if ok {
                    out.push((name, file.path()));
                } else {
                    tracing::warn!(path = %file.path().display(), "not a blob; left out of the backup");
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The TLS directory's regular files with plain names (temporary files left out).
fn list_tls(dir: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(BackupError::io(format!("cannot list {}", dir.display()))(e)),
    };
    for entry in entries {
        let entry = entry.map_err(BackupError::io(format!("cannot list {}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|t| t.is_file()) && EntryName::tls_file_ok(&name) {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Writes a backup of `store` and `options.data_dir` to `out`, sealed as `sealing` says.
/// On error `out` holds an incomplete file: write to a temporary file and keep it only on
/// success.
pub async fn create_backup(
    store: &Store,
    options: &CreateOptions,
    sealing: &Sealing,
    out: Box<dyn Write + Send>,
) -> Result<BackupSummary, BackupError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Item>(2);
    let mtime = u64::try_from(options.created_at_ms / 1000).unwrap_or(0);
    let writer = tokio::task::spawn_blocking({
        let sealing = sealing.clone();
        move || write_archive(rx, out, &sealing, mtime)
    });
    let produced = produce(store, options, &tx).await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| BackupError::Refused(format!("the backup writer stopped: {e}")))?;
    // A failed send is explained by the writer's error; otherwise the producer's error wins.
    match (produced, written) {
        (_, Err(e)) | (Err(e), Ok(_)) => Err(e),
        (Ok(mut summary), Ok((entries, content_bytes))) => {
            summary.entries = entries;
            summary.content_bytes = content_bytes;
            Ok(summary)
        }
    }
}

async fn send(tx: &tokio::sync::mpsc::Sender<Item>, item: Item) -> Result<(), BackupError> {
    tx.send(item)
        .await
        .map_err(|_| BackupError::Refused("the backup writer stopped".to_owned()))
}

/// Reads the snapshot and the files and hands every entry to the writer.
async fn produce(
    store: &Store,
    options: &CreateOptions,
    tx: &tokio::sync::mpsc::Sender<Item>,
) -> Result<BackupSummary, BackupError> {
    let mut snapshot = store.backup_snapshot().await?;
    let schema_versions = snapshot.schema_versions().await?;
    let tables = snapshot.tables().await?;
    let sequences = snapshot.sequences(&tables).await?;
    let backend = snapshot.backend().name().to_owned();
    let created_at = crate::rfc3339(options.created_at_ms);
    let includes_sealing_key = options.include_key.is_some();
    let cover = Cover {
        format: "printwarden-backup".to_owned(),
        format_version: FORMAT_VERSION,
        app_version: options.app_version.clone(),
        created_at: created_at.clone(),
        backend: backend.clone(),
        schema_versions: schema_versions.clone(),
        includes_sealing_key,
        note: if includes_sealing_key {
            "This backup CONTAINS THE SEALING KEY (files/secret.key): whoever has it and its \
             passphrase can open every stored secret. Keep it as carefully as the server."
                .to_owned()
        } else {
            "The sealing key is not inside: keep secret.key (or PRINTWARDEN_SECRET_KEY) apart \
             from this backup; sealed secrets open only with it."
                .to_owned()
        },
    };
    let cover_json = serde_json::to_vec_pretty(&cover)
        .map_err(|e| BackupError::Refused(format!("cannot write the cover: {e}")))?;
    send(
        tx,
        Item::Bytes {
            name: COVER.to_owned(),
            data: cover_json,
        },
    )
    .await?;

    let mut summary = BackupSummary {
        includes_sealing_key,
        ..BackupSummary::default()
    };
    let mut manifest_tables = Vec::with_capacity(tables.len());
    let mut named_blobs: HashSet<String> = HashSet::new();
    for (position, table) in tables.iter().enumerate() {
        let hash_columns: Vec<usize> = table
            .columns
            .iter()
            .enumerate()
            .filter(|(_, (name, kind))| *kind == ColumnType::Text && name.ends_with("sha256"))
            .map(|(i, _)| i)
            .collect();
        let mut rows = snapshot.rows(table);
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + 64 * 1024);
        let mut chunks = Vec::new();
        let mut count = 0u64;
        while let Some(cells) = rows.next().await? {
            for i in &hash_columns {
                if let Some(Cell::Text(sha)) = cells.get(*i)
                    && crate::farm::library::blobs::is_sha256(sha)
                    && !named_blobs.contains(sha)
                {
                    named_blobs.insert(sha.clone());
                }
            }
            json_line(&cells, &mut buf)?;
            count += 1;
            if buf.len() >= CHUNK_BYTES {
                let name = EntryName::rows_name(position + 1, &table.name, chunks.len() + 1);
                chunks.push(name.clone());
                send(
                    tx,
                    Item::Bytes {
                        name,
                        data: std::mem::take(&mut buf),
                    },
                )
                .await?;
            }
        }
        drop(rows);
        if !buf.is_empty() {
            let name = EntryName::rows_name(position + 1, &table.name, chunks.len() + 1);
            chunks.push(name.clone());
            send(tx, Item::Bytes { name, data: buf }).await?;
        }
        summary.tables.push((table.name.clone(), count));
        manifest_tables.push(ManifestTable {
            name: table.name.clone(),
            columns: table
                .columns
                .iter()
                .map(|(n, k)| (n.clone(), k.name().to_owned()))
                .collect(),
            rows: count,
            chunks,
        });
    }
    snapshot.finish().await?;

    let blob_root = options.data_dir.join(BLOB_DIR);
    let tls_dir = options.data_dir.join(TLS_DIR);
    let (blobs, tls) = tokio::task::spawn_blocking(move || {
        Ok::<_, BackupError>((list_blobs(&blob_root)?, list_tls(&tls_dir)?))
    })
    .await
    .map_err(|e| BackupError::Refused(format!("listing the files stopped: {e}")))??;
    for (sha256, path) in blobs {
        named_blobs.remove(&sha256);
        summary.blobs += 1;
        send(
            tx,
            Item::File {
                name: EntryName::blob_name(&sha256),
                path,
            },
        )
        .await?;
    }
    for (file, path) in tls {
        summary.tls_files += 1;
        send(
            tx,
            Item::File {
                name: format!("files/{TLS_DIR}/{file}"),
                path,
            },
        )
        .await?;
    }
    if let Some(key) = &options.include_key {
        send(
            tx,
            Item::Bytes {
                name: format!("files/{KEY_FILE}"),
                data: format!("{}\n", key.to_base64()).into_bytes(),
            },
        )
        .await?;
    }
    let mut missing: Vec<String> = named_blobs.into_iter().collect();
    missing.sort();
    summary.missing_blobs.clone_from(&missing);
    let manifest = Manifest {
        format: cover.format,
        format_version: FORMAT_VERSION,
        app_version: cover.app_version,
        created_at,
        backend,
        schema_versions,
        includes_sealing_key,
        tables: manifest_tables,
        sequences,
        entries: Vec::new(),
        missing_blobs: missing,
    };
    send(tx, Item::Manifest(Box::new(manifest))).await?;
    Ok(summary)
}
