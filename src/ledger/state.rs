//! The life of one payment in the ledger: its [`State`] and the moves allowed between states.
//!
//! ```text
//! reserved           → forwarded | settling | released
//! forwarded          → settling | released
//! settling           → settled | failed | released | paid_not_delivered | forwarded
//! settled            → paid_not_delivered
//! paid_not_delivered → settled
//! failed, released   : final
//! ```
//!
//! - `reserved`: the payment was accepted and claimed (`before`, `after`), not yet settled.
//! - `forwarded`: owed, settled from the ledger: a `background` payment is written in this
//!   state when it is accepted (one write on its request path), and given back (`released`)
//!   if its origin fails or its response is not delivered.
//! - `settling`: submitted for settlement (each entry counts one attempt).
//! - `settled`: charged on chain. `failed`: settlement refused for good.
//! - `released`: not charged (origin error, refusal, or settlement proved nothing moved); the
//!   row may be replaced by a new payment with the same key.
//! - `paid_not_delivered`: charged, but the response could not be delivered; presenting the same
//!   payment again gets that one delivery, after which the row goes back to `settled`.
//!
//! Also allowed: `reserved → settling` (routes that settle before forwarding),
//! `settling → paid_not_delivered` (settle-before routes whose delivery then failed), and
//! `settling → forwarded` ("back in the queue after an unknown outcome").

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Where a payment stands. Stored as its [`State::as_str`] text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Reserved,
    Forwarded,
    Settling,
    Settled,
    Failed,
    Released,
    PaidNotDelivered,
}

impl State {
    /// Every state, in the order of the machine.
    pub const ALL: [State; 7] = [
        State::Reserved,
        State::Forwarded,
        State::Settling,
        State::Settled,
        State::Failed,
        State::Released,
        State::PaidNotDelivered,
    ];

    /// The stored (snake_case) name.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Reserved => "reserved",
            State::Forwarded => "forwarded",
            State::Settling => "settling",
            State::Settled => "settled",
            State::Failed => "failed",
            State::Released => "released",
            State::PaidNotDelivered => "paid_not_delivered",
        }
    }

    /// Whether the payment still needs work (resumed at start-up).
    pub const fn is_open(self) -> bool {
        matches!(
            self,
            State::Reserved | State::Forwarded | State::Settling | State::PaidNotDelivered
        )
    }

    /// Whether `self → next` is an edge of the machine (see the module doc).
    pub const fn can_move_to(self, next: State) -> bool {
        use State::*;
        matches!(
            (self, next),
            (Reserved, Forwarded | Settling | Released)
                | (Forwarded, Settling | Released)
                | (
                    Settling,
                    Settled | Failed | Forwarded | Released | PaidNotDelivered
                )
                | (Settled, PaidNotDelivered)
                | (PaidNotDelivered, Settled)
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`State::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown payment state {0:?} (expected reserved, forwarded, settling, settled, failed, released or paid_not_delivered)"
)]
pub struct UnknownState(pub String);

impl FromStr for State {
    type Err = UnknownState;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| UnknownState(name.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::State::*;
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in State::ALL {
            assert_eq!(state.as_str().parse::<State>(), Ok(state));
            assert_eq!(state.to_string(), state.as_str());
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
        assert_eq!(PaidNotDelivered.as_str(), "paid_not_delivered");
        assert!("Settled".parse::<State>().is_err());
        assert!("".parse::<State>().is_err());
    }

    #[test]
    fn open_states() {
        let open: Vec<State> = State::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(open, [Reserved, Forwarded, Settling, PaidNotDelivered]);
    }

    #[test]
    fn exactly_the_documented_edges() {
        let allowed = [
            (Reserved, Forwarded),
            (Reserved, Settling),
            (Reserved, Released),
            (Forwarded, Settling),
            (Forwarded, Released),
            (Settling, Settled),
            (Settling, Failed),
            (Settling, Forwarded),
            (Settling, Released),
            (Settling, PaidNotDelivered),
            (Settled, PaidNotDelivered),
            (PaidNotDelivered, Settled),
        ];
        for from in State::ALL {
            for to in State::ALL {
                assert_eq!(
                    from.can_move_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn final_states_are_final() {
        for to in State::ALL {
            assert!(!Failed.can_move_to(to));
            assert!(
                !Released.can_move_to(to),
                "released is reused by insert, not moved"
            );
            assert!(!to.can_move_to(to), "no self-loop {to}");
        }
    }
}
