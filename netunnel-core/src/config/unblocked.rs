//! [`ConfigStore`] changes from async code: the file write runs on a blocking
//! thread of the runtime, so no task waits behind an `fsync`.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{process_env, ConfigError, ConfigStore};
use crate::runtime::{unblock, Runtime};
use crate::secret::SecretKey;

impl ConfigStore {
    /// [`ConfigStore::update`], with the write off the async threads.
    pub async fn update_unblocked<T, C>(
        self: &Arc<Self>,
        rt: &dyn Runtime,
        change: C,
    ) -> Result<T, ConfigError>
    where
        T: Send + 'static,
        C: FnOnce(&mut Map<String, Value>, &SecretKey) -> T + Send + 'static,
    {
        let store = Arc::clone(self);
        unblock(rt, move || store.update(change))
            .await
            .unwrap_or(Err(ConfigError::Interrupted))
    }

    /// [`ConfigStore::close`], its wait for a write under way off the async
    /// threads.
    pub async fn close_unblocked(self: &Arc<Self>, rt: &dyn Runtime) {
        let store = Arc::clone(self);
        if unblock(rt, move || store.close()).await.is_none() {
            // The blocking thread is gone: close here, waiting if need be.
            self.close();
        }
    }

    /// [`ConfigStore::reset`] with the process environment, with the write off
    /// the async threads.
    pub async fn reset_unblocked(self: &Arc<Self>, rt: &dyn Runtime) -> Result<(), ConfigError> {
        let store = Arc::clone(self);
        unblock(rt, move || store.reset(&process_env))
            .await
            .unwrap_or(Err(ConfigError::Interrupted))
    }
}
