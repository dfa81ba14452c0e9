//! Background work: the data-key rotation job (rotate when the current key is older than the
//! configured period, re-wrap values and attachment segments under older keys in batches,
//! retire keys nothing uses any more) and housekeeping (purging expired sessions, emptying
//! acknowledged device grants after their retention window). [`rotate_data_key`] and
//! [`rewrap_and_retire`] are also what the offline `coffer server rotate-data-key` runs.

use std::time::Duration;

use coffer_store::{AuditEvent, DataKeyId, StoreError, ValuePointer};

use crate::error::ServerError;
use crate::session::now;
use crate::state::{AppState, data_key_id};

/// Values re-wrapped per batch.
pub const REWRAP_BATCH: u32 = 500;

/// What a re-wrap pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RewrapReport {
    /// Values moved to the current key.
    pub rewrapped: u64,
    /// Keys retired (no value left under them; their rows deleted).
    pub retired: u64,
}

/// Makes a new current data key: wrapped by the KMS, persisted (the old current key becomes
/// retired in the store, still loaded to open old values), then used for new writes.
pub async fn rotate_data_key(state: &AppState) -> Result<DataKeyId, ServerError> {
    let rotation = state
        .keyring()
        .prepare_rotation(state.kms.as_ref())
        .map_err(ServerError::internal)?;
    let row = rotation.row().clone();
    let event = AuditEvent::new("server.data_key_rotated", row.id.to_hex());
    state
        .main
        .rotate_data_key(data_key_id(row.id), &row.wrapped, Some(&event))
        .await?;
    state.keyring_mut().commit_rotation(rotation);
    ::metrics::counter!(crate::metrics::DATA_KEY_ROTATIONS).increment(1);
    tracing::info!(key = %row.id, "data key rotated");
    Ok(data_key_id(row.id))
}

/// Re-wraps every value under a non-current key, in batches of [`REWRAP_BATCH`], then retires
/// (drops from the keyring and deletes from the store) every old key no value uses.
pub async fn rewrap_and_retire(state: &AppState) -> Result<RewrapReport, ServerError> {
    let mut report = RewrapReport::default();
    let (current, old): (_, Vec<_>) = {
        let ring = state.keyring();
        let current = ring.current_key_id();
        (
            current,
            ring.key_ids()
                .into_iter()
                .filter(|k| *k != current)
                .collect(),
        )
    };
    let current_id = data_key_id(current);
    for key in old {
        let old_id = data_key_id(key);
        let mut after: Option<ValuePointer> = None;
        loop {
            let page = state
                .values
                .pointers_by_key(old_id, after, REWRAP_BATCH)
                .await?;
            let Some(last) = page.last().copied() else {
                break;
            };
            for p in page {
                let stored = match state.values.get(p).await {
                    Ok(v) => v,
                    Err(StoreError::NotFound) => continue,
                    Err(e) => return Err(e.into()),
                };
                if stored.data_key_id != old_id {
                    continue;
                }
                let fresh = state
                    .keyring()
                    .rewrap(p.as_bytes(), &stored.data)
                    .map_err(ServerError::internal)?;
                match state.values.replace(p, old_id, current_id, &fresh).await {
                    Ok(()) => report.rewrapped += 1,
                    // Deleted or rewritten meanwhile: nothing left to move.
                    Err(StoreError::NotFound | StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            after = Some(last);
        }
        report.rewrapped += rewrap_segments(state, old_id, current_id).await?;
        let left = state.values.count_by_key(old_id).await?
            + state.values.count_segments_by_key(old_id).await?;
        if left == 0 {
            retire(state, key, old_id).await?;
            report.retired += 1;
        }
    }
    ::metrics::counter!(crate::metrics::DATA_KEY_REWRAPPED).increment(report.rewrapped);
    Ok(report)
}

/// Re-wraps every attachment segment under `old_id` to `current_id`, in batches.
async fn rewrap_segments(
    state: &AppState,
    old_id: DataKeyId,
    current_id: DataKeyId,
) -> Result<u64, ServerError> {
    let mut done = 0;
    let mut after = None;
    loop {
        let page = state
            .values
            .segments_by_key(old_id, after, REWRAP_BATCH)
            .await?;
        let Some(last) = page.last().copied() else {
            break;
        };
        for (blob, seq) in page {
            let stored = match state.values.segment(&blob, seq).await {
                Ok(s) => s,
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            };
            if stored.data_key_id != old_id {
                continue;
            }
            let binding = crate::attachments::segment_binding(&blob, seq);
            let fresh = state
                .keyring()
                .rewrap(&binding, &stored.data)
                .map_err(ServerError::internal)?;
            match state
                .values
                .replace_segment(&blob, seq, old_id, current_id, &fresh)
                .await
            {
                Ok(()) => done += 1,
                Err(StoreError::NotFound | StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        after = Some(last);
    }
    Ok(done)
}

async fn retire(
    state: &AppState,
    key: coffer_crypto::KeyId,
    id: DataKeyId,
) -> Result<(), ServerError> {
    let event = AuditEvent::new("server.data_key_retired", key.to_hex());
    match state.main.delete_data_key(id, Some(&event)).await {
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    state
        .keyring_mut()
        .retire(key, 0)
        .map_err(ServerError::internal)?;
    tracing::info!(key = %key, "data key retired");
    Ok(())
}

/// One pass of the rotation job: rotate if due, then re-wrap and retire.
pub async fn rotation_pass(
    state: &AppState,
    period: Duration,
) -> Result<RewrapReport, ServerError> {
    let due = state.keyring().rotation_due(now(), period);
    if due {
        rotate_data_key(state).await?;
    }
    rewrap_and_retire(state).await
}

/// How often the rotation job wakes up for a given period.
fn check_interval(period: Duration) -> Duration {
    (period / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Starts the rotation job on the configured period.
pub fn spawn_rotation(state: AppState, period: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(check_interval(period));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = rotation_pass(&state, period).await {
                tracing::error!(error = %e, "data key rotation pass");
            }
        }
    });
}

/// Starts housekeeping: expired sessions are purged every hour, and acknowledged device grants
/// older than `grant_retention` are emptied as often as the retention allows (at most hourly,
/// at least every second).
pub fn spawn_housekeeping(state: AppState, grant_retention: Duration) {
    let period = grant_retention.clamp(Duration::from_secs(1), Duration::from_secs(3600));
    let retention = i64::try_from(grant_retention.as_secs()).unwrap_or(i64::MAX / 2);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        let mut last_sessions: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            if last_sessions.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                last_sessions = Some(tokio::time::Instant::now());
                match state
                    .main
                    .purge_expired_sessions(now() - 86_400, None)
                    .await
                {
                    Ok(n) if n > 0 => tracing::info!(sessions = n, "purged expired sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "purge expired sessions"),
                }
            }
            match state
                .main
                .purge_acked_device_grants(now().saturating_sub(retention))
                .await
            {
                Ok(n) if n > 0 => tracing::info!(grants = n, "emptied acknowledged device grants"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "purge acknowledged device grants"),
            }
        }
    });
}
