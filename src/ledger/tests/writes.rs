//! Insert, duplicate, reuse and transition behaviour through the public write API.

use super::*;

#[tokio::test]
async fn insert_then_get_round_trips_every_field() {
    let (_dir, ledger) = temp_ledger();
    let mut record = sample_record(7);
    record.amount = "1267650600228229401496703205376".to_owned(); // 2^100: no amount_units
    record.state = State::Settled;
    record.transaction = Some("0xfeed".to_owned());
    record.reason = Some("a reason, with \"quotes\"".to_owned());
    record.attempts = 3;
    record.version = 1;
    record.chain_id = i64::MAX as u64;
    assert_eq!(ledger.insert(record.clone()).await.unwrap(), Inserted::New);
    assert_eq!(ledger.get(&record.id).unwrap(), Some(record));
    assert_eq!(ledger.get(&sample_record(8).id).unwrap(), None);
}

#[tokio::test]
async fn duplicate_insert_reports_the_existing_state_and_keeps_the_row() {
    let (_dir, ledger) = temp_ledger();
    let original = sample_record(1);
    ledger.insert(original.clone()).await.unwrap();
    let mut second = sample_record(1);
    second.route = "other".to_owned();
    assert_eq!(
        ledger.insert(second.clone()).await.unwrap(),
        Inserted::Exists(State::Reserved)
    );
    assert_eq!(
        ledger.insert_or_reuse_released(second).await.unwrap(),
        Inserted::Exists(State::Reserved),
        "only released rows are reused"
    );
    assert_eq!(ledger.get(&original.id).unwrap(), Some(original));
}

#[tokio::test]
async fn released_row_is_reused() {
    let (_dir, ledger) = temp_ledger();
    let first = sample_record(1);
    ledger.insert(first.clone()).await.unwrap();
    let released = ledger.transition(&first.id, State::Released, None, Some("origin 502".into()));
    assert_eq!(released.await.unwrap(), Moved::Done);
    let mut again = sample_record(1);
    again.route = "retry".to_owned();
    assert_eq!(
        ledger.insert(again.clone()).await.unwrap(),
        Inserted::Exists(State::Released)
    );
    assert_eq!(
        ledger
            .insert_or_reuse_released(again.clone())
            .await
            .unwrap(),
        Inserted::New
    );
    assert_eq!(ledger.get(&first.id).unwrap(), Some(again));
}

#[tokio::test]
async fn invalid_records_are_refused_before_writing() {
    let (_dir, ledger) = temp_ledger();
    let mut bad_id = sample_record(1);
    bad_id.id = bad_id.id.to_uppercase().replace('0', "A");
    let mut bad_amount = sample_record(2);
    bad_amount.amount = "1.5".to_owned();
    let mut bad_payload = sample_record(3);
    bad_payload.payload = "{secret".to_owned();
    for record in [bad_id, bad_amount, bad_payload] {
        let error = ledger.insert(record.clone()).await.unwrap_err();
        assert!(matches!(error, LedgerError::Invalid(_)), "{error}");
        assert!(
            !error.to_string().contains("secret"),
            "messages carry no payload"
        );
        assert_eq!(ledger.get(&record.id).unwrap(), None);
    }
}

#[tokio::test]
async fn transitions_follow_the_machine() {
    let (_dir, ledger) = temp_ledger();
    let record = sample_record(1);
    let id = record.id.as_str();
    ledger.insert(record.clone()).await.unwrap();

    assert_eq!(
        mv(&ledger, id, State::Settled).await,
        Moved::Refused(State::Reserved)
    );
    assert_eq!(
        ledger.get(id).unwrap(),
        Some(record.clone()),
        "a refused move changes nothing"
    );

    assert_eq!(mv(&ledger, id, State::Forwarded).await, Moved::Done);
    assert_eq!(mv(&ledger, id, State::Settling).await, Moved::Done);
    assert_eq!(
        ledger
            .transition(id, State::Forwarded, None, Some("timeout".into()))
            .await
            .unwrap(),
        Moved::Done
    );
    assert_eq!(mv(&ledger, id, State::Settling).await, Moved::Done);
    let settling = ledger.get(id).unwrap().unwrap();
    assert_eq!((settling.state, settling.attempts), (State::Settling, 2));
    assert_eq!(settling.updated_ms, TEST_NOW_MS);
    assert_eq!(settling.created_ms, record.created_ms);
    assert_eq!(
        settling.reason.as_deref(),
        Some("timeout"),
        "None keeps the stored reason"
    );

    let settled = ledger.transition(id, State::Settled, Some("0xabc".into()), None);
    assert_eq!(settled.await.unwrap(), Moved::Done);
    assert_eq!(
        mv(&ledger, id, State::Released).await,
        Moved::Refused(State::Settled)
    );
    let undelivered = ledger.transition(
        id,
        State::PaidNotDelivered,
        None,
        Some("client gone".into()),
    );
    assert_eq!(undelivered.await.unwrap(), Moved::Done);
    assert_eq!(mv(&ledger, id, State::Settled).await, Moved::Done);
    let done = ledger.get(id).unwrap().unwrap();
    assert_eq!(done.state, State::Settled);
    assert_eq!(done.transaction.as_deref(), Some("0xabc"));
    assert_eq!(done.reason.as_deref(), Some("client gone"));
    assert_eq!(done.attempts, 2, "only entering settling counts");

    let missing = sample_record(99).id;
    assert_eq!(
        mv(&ledger, &missing, State::Forwarded).await,
        Moved::Missing
    );
}

#[tokio::test]
async fn transition_many_answers_each_move() {
    let (_dir, ledger) = temp_ledger();
    for n in 1..=3 {
        ledger.insert(sample_record(n)).await.unwrap();
    }
    let moves = vec![
        (sample_record(1).id, State::Forwarded, None, None),
        (sample_record(2).id, State::Failed, None, None),
        (sample_record(9).id, State::Forwarded, None, None),
        (
            sample_record(3).id,
            State::Settling,
            Some("0x1".to_owned()),
            None,
        ),
    ];
    let moved = ledger.transition_many(moves).await.unwrap();
    assert_eq!(
        moved,
        [
            Moved::Done,
            Moved::Refused(State::Reserved),
            Moved::Missing,
            Moved::Done
        ]
    );
    assert_eq!(
        ledger.get(&sample_record(1).id).unwrap().unwrap().state,
        State::Forwarded
    );
    assert_eq!(
        ledger.get(&sample_record(2).id).unwrap().unwrap().state,
        State::Reserved
    );
    let third = ledger.get(&sample_record(3).id).unwrap().unwrap();
    assert_eq!((third.state, third.attempts), (State::Settling, 1));
}

#[tokio::test]
async fn transition_later_is_applied_in_order() {
    let (_dir, ledger) = temp_ledger();
    let id = sample_record(1).id;
    ledger.insert(sample_record(1)).await.unwrap();
    ledger.transition_later(&id, State::Forwarded, None, None);
    ledger.transition_later(&id, State::Settled, None, None); // refused: logged only
    // Commands are handled in order: once this one is answered, the queued ones are done.
    mv(&ledger, &id, State::Settling).await;
    let record = ledger.get(&id).unwrap().unwrap();
    assert_eq!((record.state, record.attempts), (State::Settling, 1));
}
