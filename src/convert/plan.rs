//! The plan stage: list the input, group it into partitions by the day rule, keep
//! the run's days (and shard), and close the set over the day rule's coupling.
//!
//! Building partition D reads the early files of folder D+1 for their day-D
//! records, and building D+1 leaves those records out. So whenever a run builds
//! D+1, whose early files may be new, D must hold them too: if D is not in the run,
//! was built before, and its manifest does not list each such file as a late input,
//! D is added to the run (rebuilt, with its vanished inputs' rows kept). The same
//! holds for D-1 when D was added, and so on, until a manifest agrees. A D never
//! built needs nothing: its first build reads those files.
//! Every record of every file a run reads thus ends up in exactly one partition,
//! whatever `--day/--from/--to/--account/--region/--shard` say.

use std::collections::{BTreeMap, BTreeSet};

use time::Date;

use super::{shard_of, ConvertOptions};
use crate::decode::RowFilter;
use crate::manifest::BuildSettings;
use crate::partition::{plan, InputRole, PartitionKey, PartitionPlan};
use crate::sink::Sink;
use crate::source::{InputFile, ListFilter, Listing, Source, SourceError};

/// The partitions of a run, and what listing found.
pub struct Planned {
    pub plans: Vec<PartitionPlan>,
    pub listing: Listing,
    /// Partitions added because a planned day's early files were new to them.
    pub added_for_day_rule: usize,
}

/// Files by (account, region, folder day).
type ByFolder = BTreeMap<(String, String, Date), Vec<InputFile>>;

/// At most this many partitions are added by the closure (a guard against a
/// history whose every manifest disagrees, e.g. built with another late window).
const MAX_ADDED: usize = 100_000;

pub fn plan_run(
    source: &dyn Source,
    sink: &dyn Sink,
    opts: &ConvertOptions,
    settings: &BuildSettings,
) -> Result<Planned, SourceError> {
    // Day D's partition reads folder D+1's early files; D-1 is listed too, the
    // first day the closure may add.
    let listing = source.list(&ListFilter {
        accounts: opts.accounts.clone(),
        regions: opts.regions.clone(),
        from: opts.from.and_then(|f| f.previous_day()).or(opts.from),
        to: opts.to.and_then(|t| t.next_day()).or(opts.to),
    })?;
    let mut by_folder: ByFolder = BTreeMap::new();
    for f in &listing.files {
        by_folder
            .entry((
                f.log.account.clone(),
                f.log.region.clone(),
                f.log.folder_day,
            ))
            .or_default()
            .push(f.clone());
    }
    let listed_from = opts.from.and_then(|f| f.previous_day());
    let mut plans = plan(&listing.files, opts.late_window, opts.from, opts.to);
    if let Some((i, n)) = opts.shard {
        plans.retain(|p| shard_of(&p.key, n) == i);
    }
    let before = plans.len();
    close_over_day_rule(
        &mut plans,
        &mut by_folder,
        listed_from,
        source,
        sink,
        opts,
        settings,
    )?;
    let added_for_day_rule = plans.len() - before;
    if opts.newest_first {
        plans.sort_by(|a, b| b.key.day.cmp(&a.key.day).then_with(|| a.key.cmp(&b.key)));
    } else {
        plans.sort_by(|a, b| a.key.cmp(&b.key));
    }
    Ok(Planned {
        plans,
        listing,
        added_for_day_rule,
    })
}

/// Add the partitions whose late inputs a planned partition's early files are,
/// unless their manifests already hold them.
fn close_over_day_rule(
    plans: &mut Vec<PartitionPlan>,
    by_folder: &mut ByFolder,
    mut listed_from: Option<Date>,
    source: &dyn Source,
    sink: &dyn Sink,
    opts: &ConvertOptions,
    settings: &BuildSettings,
) -> Result<(), SourceError> {
    let mut planned: BTreeSet<PartitionKey> = plans.iter().map(|p| p.key.clone()).collect();
    let mut queue: Vec<usize> = (0..plans.len()).collect();
    let mut added = 0;
    while let Some(i) = queue.pop() {
        let Some(prev_day) = plans[i].key.day.previous_day() else {
            continue;
        };
        let prev = PartitionKey {
            day: prev_day,
            ..plans[i].key.clone()
        };
        if planned.contains(&prev) {
            continue;
        }
        let early: Vec<&InputFile> = plans[i]
            .inputs
            .iter()
            .filter(|p| p.role == InputRole::Own && matches!(p.filter, RowFilter::ExceptDay(_)))
            .map(|p| &p.file)
            .collect();
        if early.is_empty() || holds_as_late(sink, &prev, &early, settings) {
            continue;
        }
        if added >= MAX_ADDED {
            tracing::warn!("the day rule would add more than {MAX_ADDED} partitions; stopped");
            break;
        }
        // List folder D-1 of this account/region if the run did not.
        if listed_from.is_none_or(|f| prev_day < f) {
            let extra = source.list(&ListFilter {
                accounts: vec![prev.account.clone()],
                regions: vec![prev.region.clone()],
                from: Some(prev_day),
                to: Some(prev_day),
            })?;
            for f in extra.files {
                let k = (
                    f.log.account.clone(),
                    f.log.region.clone(),
                    f.log.folder_day,
                );
                let files = by_folder.entry(k).or_default();
                if !files.iter().any(|g| g.key == f.key) {
                    files.push(f);
                }
            }
            if opts.accounts.is_empty() && opts.regions.is_empty() {
                listed_from = listed_from.map(|f| f.min(prev_day));
            }
        }
        let mut files: Vec<InputFile> = Vec::new();
        for day in [prev_day, plans[i].key.day] {
            if let Some(v) = by_folder.get(&(prev.account.clone(), prev.region.clone(), day)) {
                files.extend(v.iter().cloned());
            }
        }
        if let Some(p) = plan(&files, opts.late_window, Some(prev_day), Some(prev_day))
            .into_iter()
            .find(|p| p.key == prev)
        {
            tracing::info!(partition = %prev, "added: early files of the next day are new to it");
            planned.insert(prev);
            plans.push(p);
            queue.push(plans.len() - 1);
            added += 1;
        }
    }
    Ok(())
}

/// Whether `key` needs nothing for the files of `early`: it was never built (its
/// first build reads them as late inputs), or its manifest (built with `settings`)
/// holds every one of them as a late input. A manifest that cannot be read counts
/// as not holding them (the partition is added, and its build reports the error).
fn holds_as_late(
    sink: &dyn Sink,
    key: &PartitionKey,
    early: &[&InputFile],
    settings: &BuildSettings,
) -> bool {
    let current = match sink.current(key) {
        Ok(Some(c)) => c,
        Ok(None) => return true,
        Err(_) => return false,
    };
    let m = &current.manifest;
    if m.settings.late_window_minutes != settings.late_window_minutes {
        return false;
    }
    m.holds(early.iter().map(|f| (*f, InputRole::Late)))
}
