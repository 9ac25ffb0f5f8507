//! The build stage: decode, de-duplicate, sort and encode one partition's rows into
//! a staged version, and describe it in a manifest.
//!
//! Rows carried over from the current version come first (see `carry`), then the
//! inputs in delivery order, in chunks sized to fill one row group. Each step runs
//! two things at once on the rayon pool: decoding the next chunk of files (one task
//! per file; a decoded file is de-duplicated as soon as the files before it are,
//! in input order, beside those still decoding: `dedup::InOrder`), and putting the
//! previous row group in eventtime order and encoding it (one task per leaf
//! column). Memory is bounded by about two row groups (the one
//! being filled and the one being encoded, which is written as slices of its
//! pieces, not copied into order: see `encode`) plus the de-duplication table.

use std::collections::HashSet;
use std::ops::Range;

use arrow_array::RecordBatch;
use rayon::prelude::*;

use super::carry::{for_each_carried, CarryError};
use super::dedup::{expected_records, Dedup, InOrder, Taken, Turn};
use super::spill::KeySpill;
use super::{BadFile, Builder, PartitionFailure, PartitionReport};
use crate::decode::{DecodedFile, RowKey};
use crate::detect::findings::FindingsFile;
use crate::detect::LevelCounts;
use crate::encode::{sort_order, PartFile, Piece, Rows, SortedGroup};
use crate::manifest::{Manifest, ManifestFindings, ManifestInput, ManifestOutput, RecordCounts};
use crate::partition::{InputRole, PartitionPlan, PlannedInput};
use crate::schema::FindingsSchema;
use crate::sink::{Current, PartOutput, StagedPartition};

/// How far a build's reads got: inputs before `announced` were announced to the
/// source, those before `read` were read, except `large_unread`.
#[derive(Default)]
struct Announced {
    announced: usize,
    read: usize,
    large_unread: Vec<usize>,
}

/// A chunk's file as decoded (`None`: a large file, decoded later in steps), and its
/// rows to keep when de-duplicated while decoding.
type ChunkResult = Taken<Option<Result<DecodedFile, PartitionFailure>>>;

/// Let a remote source fetch the chunk `range` and as much again after it while the
/// build works; each file is announced once.
fn announce(
    builder: &Builder<'_>,
    plan: &PartitionPlan,
    range: Range<usize>,
    reads: &mut Announced,
) {
    let ahead = (range.end + range.len())
        .min(plan.inputs.len())
        .max(reads.announced);
    let upcoming: Vec<_> = plan.inputs[reads.announced..ahead]
        .iter()
        .map(|p| &p.file)
        .collect();
    builder.source.prefetch(&upcoming);
    reads.announced = ahead;
}

/// The data file being written and the files finished so far.
struct Output {
    current: Option<(PartFile<Box<dyn PartOutput>>, String)>,
    done: Vec<ManifestOutput>,
}

/// One partition's build in progress.
struct Build<'b, 'r> {
    builder: &'b Builder<'r>,
    staged: &'b mut dyn StagedPartition,
    dedup: Dedup,
    /// Set when the partition is too large for the in-memory table: keys of every
    /// written row go to disk and duplicates are dropped after the build.
    spill: Option<KeySpill>,
    counts: RecordCounts,
    inputs: Vec<ManifestInput>,
    pieces: Vec<Piece>,
    pieces_mem: usize,
    out: Output,
    bad_files: Vec<BadFile>,
    /// Findings of the rows written so far (`--rules`).
    findings: Findings,
    /// The digests around the partition (`--verify-digests`).
    digests: Option<super::digests::PartitionDigests>,
}

/// Findings written while row groups are (the file is opened at the first one).
#[derive(Default)]
struct Findings {
    file: Option<FindingsFile>,
    levels: LevelCounts,
}

impl Builder<'_> {
    /// Build `plan` into `staged` as build `build`, carrying over the rows of
    /// `previous`'s inputs that `plan` no longer lists (unless `--drop-vanished`).
    pub(super) fn fill(
        &self,
        plan: &PartitionPlan,
        build: &str,
        previous: Option<&Current>,
        staged: &mut dyn StagedPartition,
        report: &mut PartitionReport,
    ) -> Result<Manifest, PartitionFailure> {
        let gz: u64 = plan.input_bytes();
        let carried_rows = previous.map_or(0, |p| p.manifest.records.written);
        let expected = expected_records(gz) + carried_rows;
        let spill = if expected.saturating_mul(TABLE_BYTES_PER_ROW) > self.opts.dedup_memory as u64
        {
            tracing::info!(partition = %plan.key, expected, "de-duplicating on disk (above --dedup-memory)");
            Some(
                KeySpill::new(
                    &self.opts.spill_dir(),
                    self.opts.dedup_memory.min(SPILL_RUN_BYTES),
                )
                .map_err(|e| PartitionFailure::Spill(e.to_string()))?,
            )
        } else {
            None
        };
        let mut b = Build {
            builder: self,
            staged,
            dedup: Dedup::for_inputs(self.schema, if spill.is_some() { 0 } else { gz }),
            spill,
            counts: RecordCounts::default(),
            inputs: Vec::with_capacity(plan.inputs.len()),
            pieces: Vec::new(),
            pieces_mem: 0,
            out: Output {
                current: None,
                done: Vec::new(),
            },
            bad_files: Vec::new(),
            findings: Findings::default(),
            digests: match &self.opts.digests {
                Some(check) => Some(
                    super::digests::PartitionDigests::load(
                        self.source,
                        &self.digest_cache,
                        plan,
                        check,
                        self.opts.max_file_bytes,
                    )
                    .map_err(PartitionFailure::Digests)?,
                ),
                None => None,
            },
        };
        let mut carried = Vec::new();
        if let (Some(p), false) = (previous, self.opts.drop_vanished) {
            carried = p.manifest.vanished(plan).into_iter().cloned().collect();
            if !carried.is_empty() {
                b.carry(plan, &p.manifest)?;
            }
        }
        b.decode_inputs(plan)?;
        let (manifest, bad_files) = b.finish(plan, build, carried)?;
        report.bad_files = bad_files;
        report.records = manifest.records.clone();
        report.findings = manifest.findings.as_ref().map(|f| f.levels.clone());
        report.set_integrity(&manifest);
        Ok(manifest)
    }
}

impl Build<'_, '_> {
    /// Rows of `current` whose source object `plan` does not list.
    fn carry(&mut self, plan: &PartitionPlan, current: &Manifest) -> Result<(), PartitionFailure> {
        let listed: HashSet<&str> = plan.inputs.iter().map(|i| i.file.object.as_str()).collect();
        let schema = self.builder.schema;
        let sink = self.builder.sink;
        for_each_carried(sink, &plan.key, current, &listed, schema, |batch, rows| {
            let (rows, keys) = match self.spill {
                Some(_) => {
                    let keys = self.dedup.value_keys(&batch, None, schema.event_id);
                    (rows, Some(keys))
                }
                None => (self.dedup.carry(&batch, &rows, schema.event_id), None),
            };
            self.counts.carried += rows.len() as u64;
            self.push(Piece::new(batch, rows, keys))
                .map_err(|e| CarryError::Read {
                    file: "row group".into(),
                    reason: e.to_string(),
                })?;
            if self.pieces_mem >= self.builder.opts.row_group_bytes {
                self.flush().map_err(|e| CarryError::Read {
                    file: "row group".into(),
                    reason: e.to_string(),
                })?;
            }
            Ok(())
        })
        .map_err(PartitionFailure::Carry)
    }

    /// Add a piece to the row group being gathered. A piece that would take the row
    /// group past the hard limit (1 GiB; e.g. files with huge values) starts a row
    /// group of its own, so a string column never outgrows Arrow's 32-bit offsets.
    fn push(&mut self, piece: Piece) -> Result<(), PartitionFailure> {
        if piece.rows.is_empty() {
            return Ok(());
        }
        let mem = piece.bytes;
        if !self.pieces.is_empty() && self.pieces_mem + mem > self.builder.opts.row_group_hard_limit
        {
            self.flush()?;
        }
        self.pieces_mem += mem;
        self.pieces.push(piece);
        Ok(())
    }

    /// Sort and encode the pieces gathered so far as one row group.
    fn flush(&mut self) -> Result<(), PartitionFailure> {
        if let Some(pieces) = self.take_row_group() {
            self.write_row_group(pieces)?;
        }
        Ok(())
    }

    /// The pieces gathered so far, for one row group.
    fn take_row_group(&mut self) -> Option<Vec<Piece>> {
        if self.pieces.is_empty() {
            return None;
        }
        self.pieces_mem = 0;
        Some(std::mem::take(&mut self.pieces))
    }

    /// Decode the inputs in chunks, encoding the previous row group meanwhile. Files
    /// are announced to the source (`prefetch`) once each, a chunk ahead; those
    /// announced and not read when the build stops early are withdrawn.
    fn decode_inputs(&mut self, plan: &PartitionPlan) -> Result<(), PartitionFailure> {
        let mut reads = Announced::default();
        let result = self.decode_chunks(plan, &mut reads);
        if result.is_err() {
            let unread: Vec<_> = (reads.read..reads.announced)
                .chain(reads.large_unread)
                .map(|k| &plan.inputs[k].file)
                .collect();
            self.builder.source.forget(&unread);
        }
        result
    }

    fn decode_chunks(
        &mut self,
        plan: &PartitionPlan,
        reads: &mut Announced,
    ) -> Result<(), PartitionFailure> {
        let row_group_bytes = self.builder.opts.row_group_bytes;
        let mut pending: Option<Vec<Piece>> = None;
        // Arrow bytes per compressed input byte, learnt as files are decoded.
        let mut expansion = 8.0f64;
        let mut i = 0;
        while i < plan.inputs.len() || pending.is_some() {
            if crate::interrupt::requested() {
                return Err(PartitionFailure::Interrupted);
            }
            let j = self.chunk_end(plan, i, expansion);
            announce(self.builder, plan, i..j, reads);
            let decoded = self.decode_chunk(plan, i..j, pending.take(), expansion, reads)?;
            for (input, (result, kept)) in plan.inputs[i..j].iter().zip(decoded) {
                match result {
                    Some(result) => self.take_decoded(input, result, &mut expansion, kept)?,
                    None => {
                        reads.large_unread.remove(0);
                        self.decode_large(input, &mut expansion)?
                    }
                }
            }
            i = j;
            if self.pieces_mem >= row_group_bytes || (i == plan.inputs.len()) {
                pending = self.take_row_group();
            }
        }
        Ok(())
    }

    /// Where the chunk starting at input `i` ends: enough files to fill what the row
    /// group lacks (at `expansion` Arrow bytes per input byte), at least two per
    /// thread, at most 1,024.
    fn chunk_end(&self, plan: &PartitionPlan, i: usize, expansion: f64) -> usize {
        let row_group_bytes = self.builder.opts.row_group_bytes;
        let budget = row_group_bytes.saturating_sub(self.pieces_mem) as f64 / expansion;
        let min_chunk = rayon::current_num_threads() * 2;
        let mut j = i;
        let mut chunk_bytes = 0f64;
        while j < plan.inputs.len() && (j - i < min_chunk || chunk_bytes < budget) && j - i < 1024 {
            chunk_bytes += plan.inputs[j].file.size as f64;
            j += 1;
        }
        j
    }

    /// Decode a chunk's files in parallel (de-duplicating them in order as they
    /// finish, when `dedups_while_decoding`) while `to_encode` is written as a row
    /// group. Per file: its result (`None` for a large file, decoded on its own in
    /// steps later) and its rows to keep, when de-duplicated here. The chunk's files
    /// are marked read in `reads`, but for large ones.
    fn decode_chunk(
        &mut self,
        plan: &PartitionPlan,
        range: Range<usize>,
        to_encode: Option<Vec<Piece>>,
        expansion: f64,
        reads: &mut Announced,
    ) -> Result<Vec<ChunkResult>, PartitionFailure> {
        let chunk = &plan.inputs[range.clone()];
        let builder = self.builder;
        // Files whose decoded rows would not fit in half a row group.
        let half_row_group = (builder.opts.row_group_bytes / 2) as f64;
        let large = |input: &PlannedInput| input.file.size as f64 * expansion > half_row_group;
        let mut dedup = std::mem::take(&mut self.dedup);
        let taking = std::sync::Mutex::new(InOrder::new(
            self.dedups_while_decoding().then_some(&mut dedup),
            chunk.len(),
        ));
        let (encoded, ()) = rayon::join(
            || match to_encode {
                Some(pieces) => self.write_row_group(pieces),
                None => Ok(()),
            },
            || {
                chunk.par_iter().enumerate().for_each(|(k, input)| {
                    let result = (!large(input)).then(|| builder.decode(input));
                    let mut taking = taking.lock().unwrap_or_else(|e| e.into_inner());
                    taking.put(k, result, |r| match r {
                        Some(Ok(df)) => Turn::Take(&df.batch, &df.keys),
                        Some(Err(_)) => Turn::Pass,
                        None => Turn::Stop,
                    });
                })
            },
        );
        let (decoded, counts) = taking
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .finish();
        self.dedup = dedup;
        self.counts.add(&counts);
        reads.large_unread = range
            .clone()
            .filter(|&k| decoded[k - range.start].0.is_none())
            .collect();
        reads.read = range.end;
        encoded?;
        Ok(decoded)
    }

    /// Whether a chunk's files are de-duplicated as they decode (`InOrder`): not when
    /// keys go to disk, nor when a file's rows may yet be left out for its digest
    /// (its keys must not enter the table).
    fn dedups_while_decoding(&self) -> bool {
        let leaves_out = self
            .builder
            .opts
            .digests
            .as_ref()
            .is_some_and(|check| check.on_tampered != super::digests::OnTampered::Keep);
        self.spill.is_none() && !leaves_out
    }

    /// Account for one decoded input: keep its fresh rows (`chosen`, when they were
    /// chosen while decoding), or record it as bad.
    fn take_decoded(
        &mut self,
        input: &PlannedInput,
        result: Result<DecodedFile, PartitionFailure>,
        expansion: &mut f64,
        chosen: Option<Vec<u32>>,
    ) -> Result<(), PartitionFailure> {
        let mut entry = ManifestInput {
            key: input.file.object.clone(),
            size: input.file.size,
            version: input.file.version.clone(),
            role: input.role,
            skipped: None,
            sha256: None,
            integrity: None,
        };
        match result {
            Ok(df) => {
                entry.sha256 = df.content_sha256.map(|h| crate::integrity::hex(&h));
                if let Some(why) = self.tampered(input, entry.sha256.as_deref())? {
                    entry.skipped = Some(why);
                    self.inputs.push(entry);
                    return Ok(());
                }
                let kept = df.records - df.filtered_out;
                self.counts.read += kept;
                match input.role {
                    InputRole::Own => self.counts.rerouted_out += df.filtered_out,
                    InputRole::Late => self.counts.rerouted_in += kept,
                }
                for k in &df.ignored_top_level_keys {
                    tracing::warn!(file = %input.file.location, key = %k, "top-level key other than Records ignored");
                }
                if input.file.size > 0 {
                    let mem = df.batch_bytes as f64;
                    *expansion = 0.8 * *expansion + 0.2 * (mem / input.file.size as f64).max(1.0);
                }
                self.push_decoded(df.batch, df.batch_bytes, &df.keys, chosen)?;
            }
            Err(failure) => {
                let (kind, reason) = match &failure {
                    PartitionFailure::BadFile { reason, .. } => (reason.kind(), reason.to_string()),
                    other => ("read_error", other.to_string()),
                };
                if !self.builder.opts.skip_bad_files || kind == "read_error" {
                    return Err(failure);
                }
                tracing::warn!(file = %input.file.location, "bad file skipped: {reason}");
                self.bad_files.push(BadFile {
                    path: input.file.location.clone(),
                    kind,
                    reason: reason.clone(),
                });
                entry.skipped = Some(format!("{kind}: {reason}"));
            }
        }
        self.inputs.push(entry);
        Ok(())
    }

    /// Whether the policy leaves out this input's rows because a digest lists it
    /// with another hash (`Some(why)`), or fails the partition.
    fn tampered(
        &self,
        input: &PlannedInput,
        sha256: Option<&str>,
    ) -> Result<Option<String>, PartitionFailure> {
        use super::digests::OnTampered;
        let (Some(d), Some(check), Some(sha)) = (&self.digests, &self.builder.opts.digests, sha256)
        else {
            return Ok(None);
        };
        if !d.modified(&input.file.object, sha) {
            return Ok(None);
        }
        tracing::error!(file = %input.file.location, "a digest lists this file with another SHA-256: modified after delivery");
        match check.on_tampered {
            OnTampered::Keep => Ok(None),
            OnTampered::Skip => Ok(Some(
                "modified: a digest lists it with another SHA-256 (--on-tampered skip)".into(),
            )),
            OnTampered::Fail => Err(PartitionFailure::Tampered {
                path: input.file.location.clone(),
            }),
        }
    }

    /// Keep the fresh rows of a decoded batch (or, de-duplicating on disk, all of
    /// them with their keys) for the row group being gathered.
    fn push_decoded(
        &mut self,
        batch: RecordBatch,
        bytes: usize,
        raw: &[RowKey],
        kept: Option<Vec<u32>>,
    ) -> Result<(), PartitionFailure> {
        let event_id = self.builder.schema.event_id;
        let (rows, keys) = match self.spill {
            // Decoded rows are told apart by their raw text, as in memory; only when
            // rows were carried over (known by their column values alone) must every
            // row be identified by its values.
            Some(_) if self.counts.carried == 0 => {
                let keys = raw.iter().map(|k| (k.event_id, k.content)).collect();
                ((0..batch.num_rows() as u32).collect(), Some(keys))
            }
            Some(_) => {
                let keys = self.dedup.value_keys(&batch, Some(raw), event_id);
                ((0..batch.num_rows() as u32).collect(), Some(keys))
            }
            None => match kept {
                Some(rows) => (rows, None),
                None => (self.dedup.keep(&batch, raw, &mut self.counts), None),
            },
        };
        self.push(Piece {
            batch,
            rows,
            keys,
            bytes,
        })
    }

    /// Decode one large file in steps of half a row group, writing row groups as
    /// they fill, so its decoded rows are never all in memory. A file found bad
    /// after some of its rows were taken fails the partition (its previous version
    /// stays), even with `--skip-bad-files`: those rows cannot be taken back.
    fn decode_large(
        &mut self,
        input: &PlannedInput,
        expansion: &mut f64,
    ) -> Result<(), PartitionFailure> {
        let b = self.builder;
        let bytes = match b.source.read(&input.file) {
            Ok(bytes) => bytes,
            Err(e) => return self.take_decoded(input, Err(e.into()), expansion, None),
        };
        // Rows go out while a large file is decoded: a policy that may leave them
        // out needs the hash first.
        if let Some(check) = b.opts.digests.as_ref() {
            if check.on_tampered != super::digests::OnTampered::Keep {
                let sha = crate::verify::content_sha256(&bytes, b.opts.max_file_bytes);
                if let Some(why) = self.tampered(input, Some(&sha))? {
                    b.progress.file_done(bytes.len() as u64, 0, 0);
                    self.inputs.push(ManifestInput {
                        key: input.file.object.clone(),
                        size: input.file.size,
                        version: input.file.version.clone(),
                        role: input.role,
                        skipped: Some(why),
                        sha256: Some(sha),
                        integrity: None,
                    });
                    return Ok(());
                }
            }
        }
        let step = (b.opts.row_group_bytes / 2).max(1 << 20);
        let mut steps = 0usize;
        let outcome = b.decoder.decode_in_steps(
            &bytes,
            input.filter,
            &input.file.object,
            step,
            |batch, keys| {
                steps += 1;
                let bytes = crate::encode::batch_bytes(&batch);
                self.push_decoded(batch, bytes, &keys, None)?;
                if self.pieces_mem >= b.opts.row_group_bytes {
                    self.flush()?;
                }
                Ok::<(), PartitionFailure>(())
            },
        )?;
        let bad = |reason| PartitionFailure::BadFile {
            path: input.file.location.clone(),
            reason,
        };
        let result = match outcome {
            Ok(df) => {
                b.progress.file_done(
                    bytes.len() as u64,
                    df.records - df.filtered_out,
                    df.content_bytes,
                );
                Ok(df)
            }
            Err(reason) if steps > 0 => return Err(bad(reason)),
            Err(reason) => {
                b.progress.file_done(bytes.len() as u64, 0, 0);
                Err(bad(reason))
            }
        };
        self.take_decoded(input, result, expansion, None)
    }

    /// Put the pieces in eventtime order (here, beside the next chunk's decoding,
    /// not between chunks while the pool waits) and encode them as one row group.
    fn write_row_group(&mut self, pieces: Vec<Piece>) -> Result<(), PartitionFailure> {
        let order = sort_order(self.builder.schema.event_time, &pieces);
        if let Some(spill) = self.spill.as_mut() {
            for &(p, r) in &order {
                let (event_id, key) = pieces[p].keys.as_ref().map_or((None, 0), |k| k[r]);
                spill
                    .push(event_id, key)
                    .map_err(|e| PartitionFailure::Spill(e.to_string()))?;
            }
        }
        self.encode_row_group(Rows::Sorted(&SortedGroup { pieces, order }))
    }

    fn encode_row_group(&mut self, rows: Rows<'_>) -> Result<(), PartitionFailure> {
        self.detect(rows)?;
        self.open_file(0)?;
        let b = self.builder;
        if let Some((file, _)) = self.out.current.as_mut() {
            file.write(rows)?;
            if file.bytes_written() as u64 >= b.opts.target_file_size {
                self.close_file()?;
            }
        }
        Ok(())
    }

    fn close_file(&mut self) -> Result<(), PartitionFailure> {
        if let Some((file, name)) = self.out.current.take() {
            let rows = file.rows();
            let row_groups = file.row_groups();
            let bytes = file.finish()?.finish()?;
            self.out.done.push(ManifestOutput {
                file: format!("{}{name}", self.staged.data_folder()),
                bytes,
                rows,
                row_groups,
            });
        }
        Ok(())
    }

    fn finish(
        mut self,
        plan: &PartitionPlan,
        build: &str,
        carried: Vec<ManifestInput>,
    ) -> Result<(Manifest, Vec<BadFile>), PartitionFailure> {
        self.flush()?;
        self.close_file()?;
        if let Some(spill) = self.spill.take() {
            self.drop_spilled_duplicates(spill)?;
        }
        let findings = self.write_findings()?;
        let mut carried = carried;
        let integrity = self
            .digests
            .as_ref()
            .map(|d| d.finish(&mut self.inputs, &mut carried));
        let b = self.builder;
        self.counts.written = self.out.done.iter().map(|o| o.rows).sum();
        if self.counts.eventid_conflicts > 0 {
            tracing::warn!(
                partition = %plan.key,
                conflicts = self.counts.eventid_conflicts,
                "records share an eventID with a different record; all were kept"
            );
        }
        Ok(Manifest {
            trailpack_version: env!("CARGO_PKG_VERSION").to_string(),
            build: build.to_string(),
            built_at: super::now_rfc3339(),
            account: plan.key.account.clone(),
            region: plan.key.region.clone(),
            day: crate::layout::day_string(plan.key.day),
            settings: b.settings.clone(),
            inputs: self.inputs,
            carried,
            records: self.counts,
            outputs: self.out.done,
            retired: Vec::new(),
            findings,
            integrity,
        })
        .map(|m| (m, self.bad_files))
    }
}

/// In-memory de-duplication table bytes per expected row (hashbrown map of two
/// u64 at its load factor, plus the growth margin of its sizing).
const TABLE_BYTES_PER_ROW: u64 = 24;

/// Buffer of one sorted run when de-duplicating on disk. Runs are merged with one
/// small reader each, so a smaller buffer only means more runs (a 7M-record
/// partition makes 20); memory then stays that of the smallest partitions.
const SPILL_RUN_BYTES: usize = 8 << 20;

impl Build<'_, '_> {
    /// Rewrite the finished files without the rows the spill found duplicated
    /// (a no-op when there are none, the usual case). Row groups stay as they were
    /// (sorted by eventtime), less the dropped rows.
    fn drop_spilled_duplicates(&mut self, spill: KeySpill) -> Result<(), PartitionFailure> {
        let spill_err = |e: std::io::Error| PartitionFailure::Spill(e.to_string());
        let mut dups = spill.duplicates().map_err(spill_err)?;
        self.counts.eventid_conflicts += dups.conflicts;
        if dups.count == 0 {
            return Ok(());
        }
        self.counts.deduplicated += dups.count;
        // Every kept row is written again below, and evaluated again.
        if self.findings.file.take().is_some() {
            self.staged.remove(&findings_file_name())?;
        }
        self.findings = Findings::default();
        let old = std::mem::take(&mut self.out.done);
        let first_new = old.len();
        let mut next_dup = dups.next_pos().map_err(spill_err)?;
        let mut pos = 0u64;
        for o in &old {
            let name = o.file.rsplit('/').next().unwrap_or(&o.file).to_string();
            let path = self.staged.local_path(&name);
            for batch in super::carry::read_row_groups(&path, self.builder.schema)? {
                let batch = batch?;
                let mut keep = Vec::with_capacity(batch.num_rows());
                for _ in 0..batch.num_rows() {
                    let dup = next_dup == Some(pos);
                    if dup {
                        next_dup = dups.next_pos().map_err(spill_err)?;
                    }
                    keep.push(!dup);
                    pos += 1;
                }
                let kept = arrow_select::filter::filter_record_batch(
                    &batch,
                    &arrow_array::BooleanArray::from(keep),
                )?;
                if kept.num_rows() > 0 {
                    self.encode_row_group_named(&kept, first_new)?;
                }
            }
            self.staged.remove(&name)?;
        }
        self.close_file()
    }

    /// `encode_row_group`, numbering new files from `first` (the rewrite's files
    /// must not take the names of those it reads).
    fn encode_row_group_named(
        &mut self,
        batch: &RecordBatch,
        first: usize,
    ) -> Result<(), PartitionFailure> {
        self.open_file(first)?;
        self.encode_row_group(Rows::Batch(batch))
    }

    /// Start the next data file, numbered from `first`, unless one is open.
    fn open_file(&mut self, first: usize) -> Result<(), PartitionFailure> {
        if self.out.current.is_none() {
            let b = self.builder;
            let name = format!("part-{:05}.parquet", first + self.out.done.len());
            let w = self.staged.create(&name)?;
            self.out.current = Some((
                PartFile::new(w, b.schema.arrow_schema(), b.props.clone())?,
                name,
            ));
        }
        Ok(())
    }
}

/// Rows evaluated per task when detecting in parallel.
const DETECT_CHUNK: usize = 16 * 1024;

/// Where a version's findings go, below its data folder. Names starting with `_`
/// are hidden from readers of the data folder (Athena, Spark, Hive), so the
/// curated table never reads them; the findings table points at this folder.
pub const FINDINGS_FOLDER: &str = "_findings/";

impl Build<'_, '_> {
    /// Evaluate the detection rules on a row group about to be written, and write
    /// its findings.
    fn detect(&mut self, rows: Rows<'_>) -> Result<(), PartitionFailure> {
        let Some(det) = self.builder.opts.detector.as_deref() else {
            return Ok(());
        };
        let schema = FindingsSchema::embedded();
        // The row group's (batch, row) pairs, in batch order rather than output
        // order: rows are read where they lie, one batch after the other, and not
        // gathered across batches (which costs more than the rules in cache misses).
        // A plain batch is its own single piece.
        let (pieces, order): (Vec<&RecordBatch>, Vec<(usize, usize)>) = match rows {
            Rows::Batch(batch) => (vec![batch], (0..batch.num_rows()).map(|r| (0, r)).collect()),
            Rows::Sorted(group) => {
                let mut order = group.order.clone();
                order.sort_unstable();
                (group.pieces.iter().map(|p| &p.batch).collect(), order)
            }
        };
        let views: Vec<_> = pieces.iter().map(|b| det.view(b)).collect();
        let parts: Vec<(RecordBatch, LevelCounts)> = order
            .par_chunks(DETECT_CHUNK)
            .map(|c| {
                let mut f = det.findings_builder();
                for &(p, r) in c {
                    det.evaluate_row(&views[p], r, |rule| f.push(rule, p, r));
                }
                f.finish(&pieces).map(|b| (b, f.counts))
            })
            .collect::<Result<_, _>>()?;
        for (batch, counts) in parts {
            self.findings.levels.add(&counts);
            if batch.num_rows() == 0 {
                continue;
            }
            if self.findings.file.is_none() {
                let out = self.staged.create(&findings_file_name())?;
                self.findings.file = Some(FindingsFile::new(out, schema)?);
            }
            if let Some(f) = self.findings.file.as_mut() {
                f.write(&batch)?;
            }
        }
        Ok(())
    }

    /// Finish the findings file (when any rule matched) and describe the findings
    /// for the manifest.
    fn write_findings(&mut self) -> Result<Option<ManifestFindings>, PartitionFailure> {
        let Some(det) = self.builder.opts.detector.as_deref() else {
            return Ok(None);
        };
        let findings = std::mem::take(&mut self.findings);
        let mut outputs = Vec::new();
        if let Some(file) = findings.file {
            let (rows, row_groups, bytes) = file.finish()?;
            outputs.push(ManifestOutput {
                file: format!("{}{}", self.staged.data_folder(), findings_file_name()),
                bytes,
                rows,
                row_groups,
            });
        }
        Ok(Some(ManifestFindings {
            outputs,
            levels: findings.levels,
            rules: det.rules().len(),
        }))
    }
}

fn findings_file_name() -> String {
    format!("{FINDINGS_FOLDER}part-00000.parquet")
}
