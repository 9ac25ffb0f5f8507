//! The plan stage: find the trail folders, choose the run's partitions (days,
//! shard), and list each partition's day folders just before it is built.
//!
//! A run never holds the listing of its whole range: discovery finds the trail
//! folders (account/region) and the run's partition keys follow from them and the
//! day range; the keys of the run's shard are then planned a chunk at a time, each
//! chunk listing its day folders D and D+1 at once (the day rule reads D+1's early
//! files), and the plans are handed to the builders as they are made. A shard
//! lists only the day folders of its own partitions.
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

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use time::Date;

use super::{shard_of, ConvertOptions};
use crate::decode::RowFilter;
use crate::manifest::BuildSettings;
use crate::partition::{plan, InputRole, PartitionKey, PartitionPlan};
use crate::sink::Sink;
use crate::source::{widen, InputFile, ListFilter, Listing, Source, SourceError, TrailFolder};

/// At most this many partitions are added by the day rule (a guard against a
/// history whose every manifest disagrees, e.g. built with another late window).
const MAX_ADDED: usize = 100_000;

/// A partition of the run: its account/region (an index into the groups) and day.
pub type Slot = (u32, Date);

/// The trail folders of one account/region, and the days the run builds there.
struct Group {
    account: String,
    region: String,
    folders: Vec<TrailFolder>,
    first: Date,
    last: Date,
}

/// A planned partition, or the listing error that stopped it being planned.
pub type Planned = Result<PartitionPlan, (PartitionKey, String)>;

pub struct Planner<'r> {
    source: &'r dyn Source,
    sink: &'r dyn Sink,
    opts: &'r ConvertOptions,
    settings: &'r BuildSettings,
    groups: Vec<Group>,
    by_name: HashMap<(String, String), u32>,
    /// What discovery and the day listings skipped (no files).
    skipped: Mutex<Listing>,
    /// Distinct input files of the run's partitions.
    listed: AtomicUsize,
    /// Partitions added by the day rule.
    added: AtomicUsize,
}

impl<'r> Planner<'r> {
    /// Discover the trail folders and the days of the run.
    pub fn new(
        source: &'r dyn Source,
        sink: &'r dyn Sink,
        opts: &'r ConvertOptions,
        settings: &'r BuildSettings,
    ) -> Result<Self, SourceError> {
        let discovery = source.discover(&ListFilter {
            accounts: opts.accounts.clone(),
            regions: opts.regions.clone(),
            from: opts.from.and_then(|f| f.previous_day()).or(opts.from),
            to: opts.to.and_then(|t| t.next_day()).or(opts.to),
        })?;
        // Without both range ends, the day folders that exist set the range.
        let spans = match (opts.from, opts.to) {
            (Some(_), Some(_)) => Vec::new(),
            _ => source.day_spans(&discovery.folders, opts.from, opts.to)?,
        };
        let mut folders: BTreeMap<(String, String), FoundFolders> = BTreeMap::new();
        for (i, f) in discovery.folders.into_iter().enumerate() {
            let entry = folders
                .entry((f.account.clone(), f.region.clone()))
                .or_default();
            if let Some(Some((first, last))) = spans.get(i) {
                widen(&mut entry.span, *first);
                widen(&mut entry.span, *last);
            }
            entry.folders.push(f);
        }
        let mut groups = Vec::new();
        for ((account, region), FoundFolders { folders, span }) in folders {
            let Some((first, last)) = day_span(span, opts) else {
                continue;
            };
            groups.push(Group {
                account,
                region,
                folders,
                first,
                last,
            });
        }
        let by_name = groups
            .iter()
            .enumerate()
            .map(|(i, g)| ((g.account.clone(), g.region.clone()), i as u32))
            .collect();
        Ok(Planner {
            source,
            sink,
            opts,
            settings,
            groups,
            by_name,
            skipped: Mutex::new(discovery.skipped),
            listed: AtomicUsize::new(0),
            added: AtomicUsize::new(0),
        })
    }

    /// The run's partitions (its shard's), in build order: by account, region and
    /// day, or newest day first.
    pub fn slots(&self) -> Vec<Slot> {
        let mut slots: Vec<Slot> = Vec::new();
        for (g, group) in self.groups.iter().enumerate() {
            let mut day = Some(group.first);
            while let Some(d) = day.filter(|d| *d <= group.last) {
                let slot = (g as u32, d);
                if self.in_shard(&self.key(slot)) {
                    slots.push(slot);
                }
                day = d.next_day();
            }
        }
        if self.opts.newest_first {
            slots.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        slots
    }

    fn key(&self, (g, day): Slot) -> PartitionKey {
        let group = &self.groups[g as usize];
        PartitionKey {
            account: group.account.clone(),
            region: group.region.clone(),
            day,
        }
    }

    fn in_shard(&self, key: &PartitionKey) -> bool {
        self.opts.shard.is_none_or(|(i, n)| shard_of(key, n) == i)
    }

    /// Whether the run builds `key` itself.
    fn in_run(&self, key: &PartitionKey) -> bool {
        self.by_name
            .get(&(key.account.clone(), key.region.clone()))
            .is_some_and(|g| {
                let group = &self.groups[*g as usize];
                (group.first..=group.last).contains(&key.day) && self.in_shard(key)
            })
    }

    /// Plan these partitions: list their day folders and the next days' at once.
    /// A partition without files is left out.
    pub fn plan(&self, slots: &[Slot]) -> Vec<Planned> {
        let mut wanted: Vec<(&TrailFolder, Date)> = Vec::new();
        for &(g, day) in slots {
            for f in &self.groups[g as usize].folders {
                wanted.push((f, day));
                if let Some(next) = day.next_day() {
                    wanted.push((f, next));
                }
            }
        }
        // A day's folder is also the previous day's next one: list it once.
        wanted.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        wanted.dedup();
        let files = match self.source.list_days(&wanted) {
            Ok(listing) => self.keep_files(listing),
            Err(e) => {
                let e = e.to_string();
                return slots
                    .iter()
                    .map(|s| Err((self.key(*s), e.clone())))
                    .collect();
            }
        };
        slots
            .iter()
            .filter_map(|s| self.plan_one(&self.key(*s), &files))
            .map(|p| {
                self.count_listed(&p);
                Ok(p)
            })
            .collect()
    }

    /// Files by (account, region, folder day); what was skipped is kept aside.
    fn keep_files(&self, mut listing: Listing) -> BTreeMap<(String, String, Date), Vec<InputFile>> {
        let mut by_folder: BTreeMap<_, Vec<InputFile>> = BTreeMap::new();
        for f in std::mem::take(&mut listing.files) {
            by_folder
                .entry((
                    f.log.account.clone(),
                    f.log.region.clone(),
                    f.log.folder_day,
                ))
                .or_default()
                .push(f);
        }
        self.skipped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .absorb(listing);
        by_folder
    }

    fn plan_one(
        &self,
        key: &PartitionKey,
        files: &BTreeMap<(String, String, Date), Vec<InputFile>>,
    ) -> Option<PartitionPlan> {
        let mut inputs: Vec<InputFile> = Vec::new();
        for day in [Some(key.day), key.day.next_day()].into_iter().flatten() {
            if let Some(v) = files.get(&(key.account.clone(), key.region.clone(), day)) {
                inputs.extend(v.iter().cloned());
            }
        }
        plan(&inputs, self.opts.late_window, Some(key.day), Some(key.day))
            .into_iter()
            .find(|p| p.key == *key)
    }

    /// Count a partition's files once: its own, and the next day's early files
    /// when the run does not build the next day.
    fn count_listed(&self, p: &PartitionPlan) {
        let next_in_run = p.key.day.next_day().is_some_and(|d| {
            self.in_run(&PartitionKey {
                day: d,
                ..p.key.clone()
            })
        });
        let n = p
            .inputs
            .iter()
            .filter(|i| i.role == InputRole::Own || !next_in_run)
            .count();
        self.listed.fetch_add(n, Ordering::Relaxed);
    }

    /// The partition the day rule adds for `plan`: its previous day, when the run
    /// does not build it and its manifest does not hold `plan`'s early files.
    pub fn previous_to_add(&self, plan: &PartitionPlan) -> Result<Option<PartitionPlan>, String> {
        let Some(prev_day) = plan.key.day.previous_day() else {
            return Ok(None);
        };
        let prev = PartitionKey {
            day: prev_day,
            ..plan.key.clone()
        };
        if self.in_run(&prev) {
            return Ok(None);
        }
        let early: Vec<&InputFile> = plan
            .inputs
            .iter()
            .filter(|p| p.role == InputRole::Own && matches!(p.filter, RowFilter::ExceptDay(_)))
            .map(|p| &p.file)
            .collect();
        if early.is_empty() || holds_as_late(self.sink, &prev, &early, self.settings) {
            return Ok(None);
        }
        if self.added.fetch_add(1, Ordering::Relaxed) >= MAX_ADDED {
            tracing::warn!("the day rule would add more than {MAX_ADDED} partitions; stopped");
            return Ok(None);
        }
        let folders = self.folders_of(&prev);
        let wanted: Vec<(&TrailFolder, Date)> = folders.iter().map(|f| (*f, prev_day)).collect();
        let listing = self.source.list_days(&wanted).map_err(|e| e.to_string())?;
        let mut files = self.keep_files(listing);
        let own: Vec<InputFile> = plan
            .inputs
            .iter()
            .filter(|p| p.role == InputRole::Own)
            .map(|p| p.file.clone())
            .collect();
        files.insert(
            (prev.account.clone(), prev.region.clone(), plan.key.day),
            own,
        );
        let added = self.plan_one(&prev, &files);
        match &added {
            Some(p) => {
                tracing::info!(partition = %prev, "added: early files of the next day are new to it");
                self.listed.fetch_add(
                    p.inputs.iter().filter(|i| i.role == InputRole::Own).count(),
                    Ordering::Relaxed,
                );
            }
            None => {
                self.added.fetch_sub(1, Ordering::Relaxed);
            }
        }
        Ok(added)
    }

    fn folders_of(&self, key: &PartitionKey) -> Vec<&TrailFolder> {
        self.by_name
            .get(&(key.account.clone(), key.region.clone()))
            .map(|g| self.groups[*g as usize].folders.iter().collect())
            .unwrap_or_default()
    }

    /// What listing skipped, distinct input files, and partitions added by the
    /// day rule.
    pub fn totals(&self) -> (Listing, usize, usize) {
        let skipped = std::mem::take(&mut *self.skipped.lock().unwrap_or_else(|p| p.into_inner()));
        (
            skipped,
            self.listed.load(Ordering::Relaxed),
            self.added.load(Ordering::Relaxed),
        )
    }
}

/// The trail folders of one account/region and the span of their day folders.
#[derive(Default)]
struct FoundFolders {
    folders: Vec<TrailFolder>,
    span: Option<(Date, Date)>,
}

/// The days the run builds for one account/region: the run's range when it has
/// both ends, otherwise the span of the day folders that exist (`found`, within the
/// range). Without `--from`, the span starts the day before the first folder: that
/// folder's early files may hold the previous day's last records.
fn day_span(found: Option<(Date, Date)>, opts: &ConvertOptions) -> Option<(Date, Date)> {
    if let (Some(from), Some(to)) = (opts.from, opts.to) {
        return (from <= to).then_some((from, to));
    }
    found.map(|(first, last)| {
        let first = opts
            .from
            .unwrap_or_else(|| first.previous_day().unwrap_or(first));
        (first, opts.to.unwrap_or(last))
    })
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
