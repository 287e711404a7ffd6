//! Redis's errors as the contract's errors, and keeping secrets out of
//! them.

use std::time::Duration;

use cachestore_core::Error;
use redis::RedisError;

pub(crate) fn timeout(endpoint: &str, after: Duration) -> Error {
    Error::Unavailable {
        endpoint: endpoint.to_owned(),
        source: format!("no connection within {after:?}").into(),
    }
}

/// Maps a Redis error: unreachable servers, a cluster without a master for
/// a slot, a node that is loading or failing over are `Unavailable`
/// (retriable); authentication failures and ACL refusals a `Config` error
/// that says what to check; the rest `Backend`.
pub(crate) fn classify(endpoint: &str, operation: &str, e: RedisError) -> Error {
    if e.kind() == redis::ErrorKind::AuthenticationFailed
        || e.to_string().contains("WRONGPASS")
        || e.to_string().contains("NOAUTH")
    {
        return Error::Config {
            message: format!(
                "Redis at {endpoint} refused the credentials ({e}); check the user and password in the URL"
            ),
        };
    }
    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm) {
        return Error::Config {
            message: format!(
                "Redis at {endpoint} refused {operation}: the user has no permission for a \
                 command the store uses ({e}). Grant it read, write, keyspace and scripting \
                 commands (for example `ACL SETUSER <user> +@read +@write +@keyspace \
                 +@scripting`)"
            ),
        };
    }
    // What the redis crate would retry (reconnect, wait, re-route) is
    // retriable for the caller too; a reply it cannot parse is not. A
    // MULTI/EXEC aborted because its slot moved or its node is failing over
    // (a dead master) is as transient as the same error on a read.
    let transient = e.kind() != redis::ErrorKind::Parse
        && !matches!(e.retry_method(), redis::RetryMethod::NoRetry)
        || e.clone().into_server_errors().is_some_and(|errors| {
            errors.iter().any(|(_, err)| {
                use redis::ServerErrorKind as K;
                matches!(
                    err.kind(),
                    Some(
                        K::Moved
                            | K::Ask
                            | K::TryAgain
                            | K::ClusterDown
                            | K::MasterDown
                            | K::BusyLoading
                            | K::ReadOnly
                    )
                )
            })
        });
    if transient
        || e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
    {
        return Error::Unavailable { endpoint: endpoint.to_owned(), source: Box::new(e) };
    }
    Error::Backend {
        backend: "redis",
        operation: format!("{operation} ({endpoint})"),
        source: Box::new(e),
    }
}
