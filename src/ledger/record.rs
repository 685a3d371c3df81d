//! The ledger's values: one payment [`Record`], the answers of the write API ([`Inserted`],
//! [`Moved`]), and the read API's [`Filter`] and [`Summary`].

use serde::{Serialize, Serializer};

use super::error::LedgerError;
use super::state::State;

/// One payment: its key, what it pays for, and where it stands.
///
/// JSON (its `Serialize`) writes `payload` and `requirements` as JSON values, not strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// The payment key's digest, 32 lowercase hex characters: the primary key.
    pub id: String,
    pub chain_id: u64,
    pub asset: String,
    pub payer: String,
    pub nonce: String,
    pub route: String,
    pub network: String,
    /// Decimal atomic units of the asset, kept as text (also stored as an integer when it fits).
    pub amount: String,
    pub policy: String,
    /// The x402 protocol version of the payment.
    pub version: u8,
    /// The payment payload as JSON text.
    #[serde(serialize_with = "json_text_as_value")]
    pub payload: String,
    /// The payment requirements it answered, as JSON text.
    #[serde(serialize_with = "json_text_as_value")]
    pub requirements: String,
    /// Unix seconds after which the authorization can no longer be settled.
    pub valid_before: u64,
    pub state: State,
    /// The settlement transaction hash, once known.
    pub transaction: Option<String>,
    /// Why the payment was released, failed or not delivered.
    pub reason: Option<String>,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// How many times the payment entered `settling`.
    pub attempts: u32,
}

/// Writes JSON text as the value it holds (a string of it if it does not parse).
fn json_text_as_value<S: Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => value.serialize(serializer),
        Err(_) => serializer.serialize_str(text),
    }
}

/// The longest decimal amount accepted: 2^256 has 78 digits.
const MAX_AMOUNT_DIGITS: usize = 78;

impl Record {
    /// The amount as an integer, for sums in SQL; `None` when it does not fit an `i64`.
    pub fn amount_units(&self) -> Option<i64> {
        self.amount.parse().ok()
    }

    /// Checks the fields the database relies on. Errors name the field, never its value.
    pub fn validate(&self) -> Result<(), LedgerError> {
        let invalid = |what: &str| Err(LedgerError::Invalid(what.to_owned()));
        let is_lower_hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if self.id.len() != 32 || !self.id.chars().all(is_lower_hex) {
            return invalid("id must be 32 lowercase hex characters");
        }
        if self.amount.is_empty()
            || self.amount.len() > MAX_AMOUNT_DIGITS
            || !self.amount.bytes().all(|b| b.is_ascii_digit())
        {
            return invalid("amount must be a decimal integer");
        }
        for (name, value) in [
            ("chain_id", self.chain_id),
            ("valid_before", self.valid_before),
            ("created_ms", self.created_ms),
            ("updated_ms", self.updated_ms),
        ] {
            if i64::try_from(value).is_err() {
                return Err(LedgerError::Invalid(format!("{name} is out of range")));
            }
        }
        if serde_json::from_str::<serde::de::IgnoredAny>(&self.payload).is_err() {
            return invalid("payload is not JSON");
        }
        if serde_json::from_str::<serde::de::IgnoredAny>(&self.requirements).is_err() {
            return invalid("requirements is not JSON");
        }
        Ok(())
    }
}

/// The answer to an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The record was written.
    New,
    /// A row with that id is already there, in this state; it was left as it was.
    Exists(State),
}

/// The answer to one transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// The row moved to the requested state.
    Done,
    /// The move is not an edge of the machine from the row's current state, which is unchanged.
    Refused(State),
    /// No row has that id.
    Missing,
}

/// One transition of [`super::Ledger::transition_many`]: (id, to, transaction, reason).
pub type Move = (String, State, Option<String>, Option<String>);

/// Which records a query returns. Every `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Exact route name.
    pub route: Option<String>,
    /// Payer address, compared case-insensitively (ASCII).
    pub payer: Option<String>,
    pub state: Option<State>,
    /// Created at or after this Unix time in milliseconds.
    pub since_ms: Option<u64>,
    /// Created strictly before this Unix time in milliseconds.
    pub until_ms: Option<u64>,
    /// At most this many records (the newest).
    pub limit: Option<usize>,
}

/// Counts for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Rows per state, every state listed (in [`State::ALL`] order).
    pub counts: [(State, u64); 7],
    /// The sum of the amounts (atomic units) of rows in `forwarded` or `settling`: owed, unsettled.
    pub unsettled_units: u128,
}

impl Summary {
    /// Rows in `state`.
    pub fn count(&self, state: State) -> u64 {
        self.counts
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    }

    /// All rows.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}
