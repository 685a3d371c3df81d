//! Payments after the request path: the durable ledger of every accepted payment, what payers
//! owe under `settle = "background"`, the worker that settles from the ledger (in batches on
//! chain), and the start-up recovery that resumes whatever a crash left open.
//!
//! The request path only calls [`Settlement`]: `accept` (durable before anything is forwarded),
//! `mark`/`mark_now` (state changes), `give_back` (nothing charged), `enqueue` (a delivered
//! background payment) and `redeliver` (the one delivery a paid-but-undelivered payment is owed).

mod owed;
mod record;
pub mod recover;
pub mod worker;

use std::sync::Arc;

use tokio::sync::mpsc;

pub use owed::{Debtor, Owed, OwedHold};

use crate::ledger::{Inserted, Ledger, LedgerError, Moved, State};
use crate::proxy::ctx::{PaidRequest, PaymentState};
use crate::snapshot::SettlePolicy;

/// A payment waiting for its background settlement.
#[derive(Debug)]
pub struct Job {
    pub paid: PaidRequest,
    /// Ask the chain before sending anything: a transaction for it may be out already.
    pub check_chain_first: bool,
}

/// What `accept` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Accept {
    /// Recorded (or no ledger).
    Recorded,
    /// The ledger knows this payment already, in this state.
    Known(State),
}

/// The request path's handle on the ledger and the settlement queue.
pub struct Settlement {
    ledger: Option<Arc<Ledger>>,
    pub owed: Arc<Owed>,
    queue: mpsc::UnboundedSender<Job>,
}

impl Settlement {
    /// No ledger: payments live in memory only, and `background` routes settle as `after`.
    pub fn without_ledger() -> Self {
        let (queue, _) = mpsc::unbounded_channel();
        Self {
            ledger: None,
            owed: Arc::new(Owed::default()),
            queue,
        }
    }

    /// With a ledger; the receiver feeds the settlement worker.
    pub fn new(ledger: Arc<Ledger>) -> (Self, mpsc::UnboundedReceiver<Job>) {
        let (queue, jobs) = mpsc::unbounded_channel();
        let settlement = Self {
            ledger: Some(ledger),
            owed: Arc::new(Owed::default()),
            queue,
        };
        (settlement, jobs)
    }

    pub fn has_ledger(&self) -> bool {
        self.ledger.is_some()
    }

    pub fn ledger(&self) -> Option<&Arc<Ledger>> {
        self.ledger.as_ref()
    }

    /// Writes an accepted payment down, durably, before anything is forwarded. An error means
    /// the payment must be refused.
    ///
    /// A `background` payment is written as `forwarded` (owed) at once: its one durable write
    /// on the request path. Unless it is given back (the origin fails, the response is not
    /// delivered: `released`, awaited), it is settled from the ledger, after a restart too.
    /// Every other policy starts `reserved` and is settled before its response leaves.
    pub async fn accept(&self, paid: &PaidRequest) -> Result<Accept, LedgerError> {
        let Some(ledger) = &self.ledger else {
            return Ok(Accept::Recorded);
        };
        // A payment given back earlier (nothing charged) may be presented again: its row is reused.
        match ledger
            .insert_or_reuse_released(record::from_paid(paid, accepted_state(paid)))
            .await?
        {
            Inserted::New => Ok(Accept::Recorded),
            Inserted::Exists(state) => Ok(Accept::Known(state)),
        }
    }

    /// Records a state change without waiting for it to be durable.
    pub fn mark(&self, paid: &PaidRequest, to: State, reason: Option<&str>) {
        if let Some(ledger) = &self.ledger {
            ledger.transition_later(
                &paid.ledger_id(),
                to,
                paid.transaction.clone(),
                reason.map(str::to_string),
            );
        }
    }

    /// Records a state change and waits until it is durable; false if it could not be written
    /// (without a ledger there is nothing to write: true).
    pub async fn mark_now(&self, paid: &PaidRequest, to: State, reason: Option<&str>) -> bool {
        let Some(ledger) = &self.ledger else {
            return true;
        };
        match ledger
            .transition(
                &paid.ledger_id(),
                to,
                paid.transaction.clone(),
                reason.map(str::to_string),
            )
            .await
        {
            Ok(Moved::Done) => true,
            Ok(other) => {
                tracing::error!(payer = %paid.payer, ?other, "ledger refused the move to {}", to.as_str());
                false
            }
            Err(e) => {
                tracing::error!(payer = %paid.payer, "ledger write failed: {e}");
                false
            }
        }
    }

    /// Gives an accepted payment back (nothing charged). Awaited when its row says it is owed
    /// (`background`): a restart must not settle a payment whose response never went out.
    pub async fn give_back(&self, paid: &PaidRequest, reason: &str) {
        if accepted_state(paid) == State::Forwarded {
            self.mark_now(paid, State::Released, Some(reason)).await;
        } else {
            self.mark(paid, State::Released, Some(reason));
        }
    }

    /// Queues a delivered background payment for settlement.
    pub fn enqueue(&self, paid: PaidRequest) {
        let job = Job {
            paid,
            check_chain_first: false,
        };
        if let Err(e) = self.queue.send(job) {
            // Only without a worker (no ledger): it stays `forwarded` in no ledger at all.
            tracing::error!(payer = %e.0.paid.payer, "no settlement worker: payment left unsettled");
        }
    }

    pub(crate) fn requeue(&self, job: Job) {
        let _ = self.queue.send(job);
    }

    /// A payment presented again whose earlier delivery failed after it was charged: it gets
    /// that one delivery now (`paid` becomes settled). False for any other replay.
    pub async fn redeliver(&self, paid: &mut PaidRequest) -> bool {
        let Some(ledger) = &self.ledger else {
            return false;
        };
        let id = paid.ledger_id();
        let record = match ledger.reader().get(&id) {
            Ok(Some(r)) => r,
            Ok(None) => return false,
            Err(e) => {
                tracing::error!("ledger read failed: {e}");
                return false;
            }
        };
        if record.state != State::PaidNotDelivered || !record::same_payment(&record, paid) {
            return false;
        }
        match ledger
            .transition(&id, State::Settled, record.transaction.clone(), None)
            .await
        {
            Ok(Moved::Done) => {
                paid.state = PaymentState::Settled;
                paid.transaction = record.transaction;
                true
            }
            _ => false,
        }
    }
}

/// The state an accepted payment is first written in: owed at once under `background`.
fn accepted_state(paid: &PaidRequest) -> State {
    match paid.policy {
        SettlePolicy::Background => State::Forwarded,
        SettlePolicy::Before | SettlePolicy::After => State::Reserved,
    }
}

#[cfg(test)]
mod tests;
