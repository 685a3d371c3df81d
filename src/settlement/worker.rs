//! The background settlement worker: takes delivered `background` payments from the queue,
//! groups them per (chain, token), and settles each group: one Multicall3 transaction for up to
//! `batch_max` of them when the gateway settles on chain itself, else one facilitator `/settle`
//! each (concurrently). At most `batches_in_flight` runs per group are under way (four rounds
//! for a facilitator); later payments wait in the queue and fill the next runs, so a backlog
//! drains at the chain's pace rather than flooding its node. Every step is written to the
//! ledger first (`settling` before anything is sent), so a restart knows what may be out.
//!
//! An outcome that is not known (no receipt in time, the facilitator's answer lost) goes back to
//! the queue marked to ask the chain first; nothing is sent again for a payment the chain shows
//! spent. A payment refused on chain (nonce used elsewhere, balance gone) is `failed` and its
//! payer flagged (no more credit); one spent by someone else still paid us (the recipient is
//! signed) and counts as settled. A payment not settled by its `validBefore` can never be: it
//! ends `failed` (`expired`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use async_trait::async_trait;
use futures::{StreamExt, stream};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{Job, Settlement};
use crate::admin::Metrics;
use crate::clock::{Clock, unix_millis};
use crate::config::reload::LiveConfig;
use crate::evm::batch::BatchOutcome;
use crate::facilitator::FacilitatorError;
use crate::ledger::{Move, Moved, State};
use crate::snapshot::Snapshot;
use crate::store::{AccessState, ReplayGuard};

/// Payments settled through a facilitator at once, per run.
const FACILITATOR_CONCURRENCY: usize = 32;
/// Facilitator runs at once, per group.
const FACILITATOR_RUNS: usize = 4;
/// Chain reads at once while a run reconciles its payments.
const CHAIN_READS: usize = 16;
/// How long a payment whose settlement could not be sent waits before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// (chain id, token).
type Group = (u64, Address);

/// The worker, as a Pingora background service.
pub struct Worker {
    pub settlement: Arc<Settlement>,
    pub jobs: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
    pub config: Arc<LiveConfig>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub guard: Arc<dyn ReplayGuard>,
    /// Where a pass sold with a payment that failed to settle is revoked.
    pub access: Arc<dyn AccessState>,
}

#[async_trait]
impl BackgroundService for Worker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(mut jobs) = self.jobs.lock().ok().and_then(|mut j| j.take()) else {
            return;
        };
        let snapshot = self.config.snapshot();
        match super::recover::resume(&self.settlement, self.guard.as_ref(), &snapshot).await {
            Ok(r) if r != Default::default() => tracing::info!(
                resumed = r.resumed,
                released = r.released,
                paid_not_delivered = r.paid_not_delivered,
                "ledger recovered"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!("ledger recovery failed: {e}"),
        }
        let mut waiting: BTreeMap<Group, (Instant, Vec<Job>)> = BTreeMap::new();
        let mut running = JoinSet::new();
        // The group of each run under way.
        let mut run_groups: HashMap<tokio::task::Id, Group> = HashMap::new();
        let under_way = |runs: &HashMap<tokio::task::Id, Group>, group: &Group| {
            runs.values().filter(|g| *g == group).count()
        };
        loop {
            let current = self.config.snapshot();
            // A group with every run slot taken waits for a run to end, not for its deadline.
            let deadline = waiting
                .iter()
                .filter_map(|(g, (since, _))| {
                    let l = limits(&current, g);
                    (under_way(&run_groups, g) < l.in_flight).then(|| *since + l.wait)
                })
                .min();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                job = jobs.recv() => match job {
                    Some(job) => self.hold(&mut waiting, job),
                    None => return,
                },
                _ = sleep => {}
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    run_groups.remove(&match done {
                        Ok((id, ())) => id,
                        Err(e) => e.id(),
                    });
                }
            }
            while let Ok(job) = jobs.try_recv() {
                self.hold(&mut waiting, job);
            }
            self.metrics
                .settlements_pending
                .set(pending(&waiting) as i64 + running.len() as i64);
            // One snapshot for this turn: every group's limits and every run read it.
            let snapshot = self.config.snapshot();
            let due: Vec<Group> = waiting
                .iter()
                .filter(|(g, (since, list))| {
                    let l = limits(&snapshot, g);
                    list.len() >= l.max || since.elapsed() >= l.wait
                })
                .map(|(g, _)| *g)
                .collect();
            for group in due {
                let Some((since, mut list)) = waiting.remove(&group) else {
                    continue;
                };
                let l = limits(&snapshot, &group);
                let mut in_flight = under_way(&run_groups, &group);
                while !list.is_empty() && in_flight < l.in_flight {
                    let batch: Vec<Job> = list.drain(..list.len().min(l.max)).collect();
                    let run = Run {
                        settlement: self.settlement.clone(),
                        snapshot: snapshot.clone(),
                        clock: self.clock.clone(),
                        metrics: self.metrics.clone(),
                        access: self.access.clone(),
                    };
                    let task = running.spawn(async move { run.settle(group, batch).await });
                    run_groups.insert(task.id(), group);
                    in_flight += 1;
                }
                // The rest waits for a free slot (oldest first).
                if !list.is_empty() {
                    waiting.insert(group, (since, list));
                }
            }
            self.metrics.settle_runs_in_flight.set(running.len() as i64);
        }
    }
}

impl Worker {
    fn hold(&self, waiting: &mut BTreeMap<Group, (Instant, Vec<Job>)>, job: Job) {
        let group = (job.paid.key.chain_id, job.paid.key.asset);
        waiting
            .entry(group)
            .or_insert_with(|| (Instant::now(), Vec::new()))
            .1
            .push(job);
    }
}

/// How a group's payments are settled.
struct Limits {
    /// Payments per run at most.
    max: usize,
    /// How long the first waits for company.
    wait: Duration,
    /// Runs at once at most.
    in_flight: usize,
}

fn limits(snapshot: &Snapshot, group: &Group) -> Limits {
    match snapshot.onchain.get(&group.0) {
        Some(s) => Limits {
            max: s.settings().batch_max,
            wait: s.settings().batch_wait,
            in_flight: s.settings().batches_in_flight,
        },
        None => Limits {
            max: FACILITATOR_CONCURRENCY,
            wait: Duration::ZERO,
            in_flight: FACILITATOR_RUNS,
        },
    }
}

fn pending(waiting: &BTreeMap<Group, (Instant, Vec<Job>)>) -> usize {
    waiting.values().map(|(_, l)| l.len()).sum()
}

/// One settlement run over a group's batch.
struct Run {
    settlement: Arc<Settlement>,
    snapshot: Arc<Snapshot>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    access: Arc<dyn AccessState>,
}

/// What became of one job.
enum Fate {
    Settled(Option<String>),
    Failed(String),
    /// Nothing was sent: try again later.
    NotSent,
    /// Something may be out: ask the chain before anything else.
    Unknown,
}

impl Run {
    async fn settle(self, group: Group, jobs: Vec<Job>) {
        let Some(ledger) = self.settlement.ledger().cloned() else {
            return;
        };
        // `settling` is durable before anything is sent.
        let moves: Vec<Move> = jobs
            .iter()
            .map(|j| (j.paid.ledger_id(), State::Settling, None, None))
            .collect();
        let moved = match ledger.transition_many(moves).await {
            Ok(m) => m,
            Err(e) => {
                tracing::error!("ledger write failed, settlements postponed: {e}");
                return jobs.into_iter().for_each(|job| self.retry(job));
            }
        };
        let mut live = Vec::new();
        for (job, m) in jobs.into_iter().zip(moved) {
            match m {
                Moved::Done => live.push(job),
                // Left `settling` by a crash or an unknown outcome: the chain is asked first.
                Moved::Refused(State::Settling) if job.check_chain_first => live.push(job),
                other => {
                    tracing::warn!(payer = %job.paid.payer, ?other, "not settling a payment the ledger does not hold as owed")
                }
            }
        }
        let mut fates = Vec::with_capacity(live.len());
        let mut to_send = Vec::new();
        let unreadable = AtomicBool::new(false);
        let mut checks = stream::iter(live)
            .map(|job| async {
                let fate = self.known_on_chain(&job, &unreadable).await;
                (job, fate)
            })
            .buffer_unordered(CHAIN_READS);
        while let Some((job, fate)) = checks.next().await {
            match fate {
                Some(fate) => fates.push((job, fate)),
                None => to_send.push(job),
            }
        }
        if !to_send.is_empty() {
            self.metrics.settle_batch_size.observe(to_send.len() as f64);
            fates.extend(self.send(group, to_send).await);
        }
        self.record(fates).await;
    }

    /// For a job that may have been sent already, or is past its window: the chain's answer.
    /// Once one read of the run failed (`unreadable`), the rest are not tried: unknown.
    async fn known_on_chain(&self, job: &Job, unreadable: &AtomicBool) -> Option<Fate> {
        let expired = self.clock.now_secs() >= job.paid.auth.valid_before;
        if !job.check_chain_first && !expired {
            return None;
        }
        if unreadable.load(Ordering::Relaxed) {
            return Some(Fate::Unknown);
        }
        let chain = self.snapshot.chains.get(&job.paid.key.chain_id)?;
        let k = &job.paid.key;
        match chain.is_spent(k.asset, k.payer, k.nonce).await {
            Ok(true) => Some(Fate::Settled(job.paid.transaction.clone())),
            Ok(false) if expired => Some(Fate::Failed("expired".into())),
            Ok(false) => None,
            Err(e) => {
                if !unreadable.swap(true, Ordering::Relaxed) {
                    tracing::warn!("chain unreadable while reconciling settlements: {e}");
                }
                Some(Fate::Unknown)
            }
        }
    }

    async fn send(&self, group: Group, jobs: Vec<Job>) -> Vec<(Job, Fate)> {
        if let Some(settler) = self.snapshot.onchain.get(&group.0) {
            let auths: Vec<_> = jobs.iter().map(|j| &j.paid.auth).collect();
            let outcomes = settler.settle_batch(group.1, &auths).await;
            return match outcomes {
                Ok(outcomes) => {
                    stream::iter(jobs.into_iter().zip(outcomes))
                        .map(|(job, o)| async {
                            let fate = match o {
                                BatchOutcome::Settled(tx) => Fate::Settled(Some(tx)),
                                BatchOutcome::Refused(reason) => self.refused(&job, reason).await,
                                BatchOutcome::Unknown => Fate::Unknown,
                            };
                            (job, fate)
                        })
                        .buffer_unordered(CHAIN_READS)
                        .collect()
                        .await
                }
                Err(e) => {
                    tracing::warn!("batch settlement not sent: {e}");
                    jobs.into_iter().map(|j| (j, Fate::NotSent)).collect()
                }
            };
        }
        let mut set = JoinSet::new();
        for job in jobs {
            let settler = self.snapshot.settler.clone();
            set.spawn(async move {
                let fate = match settler.settle(&job.paid.as_payment()).await {
                    Ok(r) if r.success => {
                        Fate::Settled(Some(r.transaction).filter(|t| !t.is_empty()))
                    }
                    Ok(r) if r.is_pending() => Fate::Unknown,
                    Ok(r) => Fate::Failed(r.error_reason.unwrap_or_else(|| "settle_failed".into())),
                    Err(FacilitatorError::Unreachable(e)) => {
                        tracing::warn!("settlement not sent: {e}");
                        Fate::NotSent
                    }
                    Err(e) => {
                        tracing::warn!("settlement outcome unknown: {e}");
                        Fate::Unknown
                    }
                };
                (job, fate)
            });
        }
        set.join_all().await
    }

    /// A call that would fail or failed: spent (by another of our batches, or by someone else)
    /// still paid us. Not spent: a refusal only when the token said why (balance, signature,
    /// window); "used or canceled" while not spent on the latest block means a transaction of
    /// ours still pending, and a call that failed inside a batch may have been starved: both
    /// are asked again (after the receipt timeout, the chain first), never written off.
    async fn refused(&self, job: &Job, reason: Option<String>) -> Fate {
        let k = &job.paid.key;
        let Some(chain) = self.snapshot.chains.get(&k.chain_id) else {
            return Fate::Failed("invalid_exact_evm_transaction_failed".into());
        };
        match (chain.is_spent(k.asset, k.payer, k.nonce).await, reason) {
            (Ok(true), _) => Fate::Settled(None),
            (Ok(false), Some(r)) if !r.contains("authorization is used or canceled") => {
                tracing::info!(payer = %job.paid.payer, "authorization refused by the token: {r}");
                Fate::Failed("invalid_exact_evm_transaction_failed".into())
            }
            (Ok(false), _) | (Err(_), _) => Fate::Unknown,
        }
    }

    /// Writes the final states; sends the rest back to the queue.
    async fn record(&self, fates: Vec<(Job, Fate)>) {
        let Some(ledger) = self.settlement.ledger() else {
            return;
        };
        let now = unix_millis();
        let mut moves = Vec::new();
        let mut again = Vec::new();
        for (mut job, fate) in fates {
            let id = job.paid.ledger_id();
            match fate {
                Fate::Settled(tx) => {
                    // Its value left the payer's balance: the cached balance follows, no read.
                    if let Some(hold) = job.paid.hold.take().and_then(|h| Arc::try_unwrap(h).ok()) {
                        hold.settled();
                    }
                    let seconds = now.saturating_sub(job.paid.accepted_ms) as f64 / 1000.0;
                    self.metrics.settle_seconds.observe(seconds);
                    self.metrics.payment("settled");
                    moves.push((id, State::Settled, tx, None));
                }
                Fate::Failed(reason) => {
                    tracing::warn!(payer = %job.paid.payer, %reason, "background settlement failed");
                    self.settlement.owed.flag(job.paid.key.payer);
                    if let Some(pass) = &job.paid.pass {
                        // The pass went out before this failure: it expires by now + ttl.
                        let until = self.clock.now_secs() + pass.ttl_secs + 1;
                        if let Err(e) = self.access.revoke(job.paid.key.digest(), until).await {
                            tracing::error!(payer = %job.paid.payer, "could not revoke the pass of a failed settlement: {e}");
                        }
                    }
                    self.metrics
                        .settle_failures
                        .with_label_values(&[&reason])
                        .inc();
                    moves.push((id, State::Failed, None, Some(reason)));
                }
                Fate::NotSent => {
                    moves.push((id, State::Forwarded, None, None));
                    again.push((job, false));
                }
                Fate::Unknown => again.push((job, true)),
            }
        }
        if let Err(e) = ledger.transition_many(moves).await {
            tracing::error!("ledger write failed after settling: {e}");
        }
        for (mut job, unknown) in again {
            job.check_chain_first |= unknown;
            self.retry(job);
        }
    }

    /// Back to the queue after a pause (the payment's holds stay with it). One whose outcome is
    /// unknown waits out a receipt timeout first: a transaction still in the mempool must land
    /// (or not) before the chain is asked, so the authorization is not sent a second time.
    fn retry(&self, job: Job) {
        let pause = match self.snapshot.onchain.get(&job.paid.key.chain_id) {
            Some(s) if job.check_chain_first => s.settings().receipt_timeout.max(RETRY_AFTER),
            _ => RETRY_AFTER,
        };
        let settlement = self.settlement.clone();
        tokio::spawn(async move {
            tokio::time::sleep(pause).await;
            settlement.requeue(job);
        });
    }
}
