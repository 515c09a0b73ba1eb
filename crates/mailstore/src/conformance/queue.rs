//! Conformance checks for the outbound queue: enqueue, due order and limit, the claim `due`
//! takes (and its lease running out), retry with a next attempt, giving up (kept as
//! `failed`), an admin's reschedule, done, and refusals.

use super::*;
use crate::{NewOutbound, OUTBOUND_LEASE, Outbound};

async fn entry(store: &dyn MailStore, id: Uuid) -> Option<Outbound> {
    store
        .queue()
        .await
        .expect("queue")
        .into_iter()
        .find(|o| o.id == id)
}

async fn due_ids(store: &dyn MailStore, now: OffsetDateTime) -> Vec<Uuid> {
    store
        .due(now, 10_000)
        .await
        .expect("due")
        .into_iter()
        .map(|o| o.id)
        .collect()
}

/// An entry's whole life: queued and due at once, retried later, given up, or done.
pub async fn queue_lifecycle(store: &dyn MailStore) {
    let raw = message("outbound");
    let recipients = vec!["one@example.net".to_owned(), "two@example.org".to_owned()];
    let id = store
        .enqueue(NewOutbound {
            from: "sender@example.com",
            recipients: &recipients,
            raw: &raw,
            now: t(5),
        })
        .await
        .expect("enqueue");
    let queued = entry(store, id).await.expect("queued entry");
    assert_eq!(queued.from, "sender@example.com");
    assert_eq!(queued.recipients, recipients);
    assert_eq!(queued.size as usize, raw.len());
    assert_eq!(queued.queued, t(5));
    assert_eq!(queued.attempts, 0);
    assert_eq!(queued.next_attempt, Some(t(5)));
    assert_eq!(queued.last_error, None);
    assert_eq!(queued.state, "queued");
    assert_eq!(store.body(&queued.blob).await.expect("body"), raw);

    assert!(
        !due_ids(store, t(4)).await.contains(&id),
        "not due before now"
    );

    // Order: an entry due earlier comes first. `due` claims what it returns.
    let earlier = store
        .enqueue(NewOutbound {
            from: "sender@example.com",
            recipients: &recipients,
            raw: &message("earlier"),
            now: t(2),
        })
        .await
        .expect("enqueue earlier");
    let due = due_ids(store, t(5)).await;
    let (a, b) = (
        due.iter().position(|x| *x == earlier).expect("earlier due"),
        due.iter()
            .position(|x| *x == id)
            .expect("due at its own now"),
    );
    assert!(a < b, "due in next_attempt order");
    let again = due_ids(store, t(5)).await;
    assert!(
        !again.contains(&id) && !again.contains(&earlier),
        "claimed entries are not handed out twice"
    );
    let lease = time::Duration::try_from(OUTBOUND_LEASE).expect("lease");
    let before_expiry = due_ids(store, t(5) + lease - time::Duration::milliseconds(1)).await;
    assert!(!before_expiry.contains(&id), "the claim lasts the lease");
    let expired = due_ids(store, t(5) + lease).await;
    assert!(
        expired.contains(&id) && expired.contains(&earlier),
        "a claim that ran out is handed out again"
    );
    assert!(store.due(t(5) + lease * 2, 1).await.expect("limited").len() <= 1);

    // A retry releases the claim: due again at its next attempt.
    store
        .outbound_retry(id, "451 4.7.1 try later", Some(t(600)))
        .await
        .expect("retry");
    let retried = entry(store, id).await.expect("still queued");
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.next_attempt, Some(t(600)));
    assert_eq!(retried.last_error.as_deref(), Some("451 4.7.1 try later"));
    assert_eq!(retried.state, "queued");
    assert!(!due_ids(store, t(599)).await.contains(&id));
    assert!(due_ids(store, t(600)).await.contains(&id));

    store
        .outbound_retry(id, "550 5.1.1 no such user", None)
        .await
        .expect("give up");
    let failed = entry(store, id).await.expect("kept for the admin");
    assert_eq!(failed.state, "failed");
    assert_eq!(failed.attempts, 2);
    assert_eq!(failed.next_attempt, None);
    assert_eq!(failed.last_error.as_deref(), Some("550 5.1.1 no such user"));
    assert!(!due_ids(store, t(1_000_000)).await.contains(&id));

    // An admin's retry: due again at once, the history kept.
    store
        .outbound_reschedule(id, t(700))
        .await
        .expect("reschedule");
    let again = entry(store, id).await.expect("queued again");
    assert_eq!(again.state, "queued");
    assert_eq!(again.next_attempt, Some(t(700)));
    assert_eq!(again.attempts, 2);
    assert_eq!(again.last_error.as_deref(), Some("550 5.1.1 no such user"));
    assert!(due_ids(store, t(700)).await.contains(&id));
    expect_err(
        store.outbound_reschedule(Uuid::new_v4(), t(700)).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "reschedule of an unknown entry",
    );

    store.outbound_done(earlier).await.expect("done");
    assert_eq!(entry(store, earlier).await, None);
    expect_err(
        store.outbound_done(earlier).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "done twice",
    );
    expect_err(
        store.outbound_retry(Uuid::new_v4(), "x", None).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "retry of an unknown entry",
    );
    expect_err(
        store
            .enqueue(NewOutbound {
                from: "sender@example.com",
                recipients: &[],
                raw: &raw,
                now: t(5),
            })
            .await,
        |e| matches!(e, StoreError::Invalid(_)),
        "no recipients",
    );
    store
        .outbound_done(id)
        .await
        .expect("remove the rescheduled entry");
}
