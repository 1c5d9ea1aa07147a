//! The connection under a store: one endpoint, or (feature `cluster`) a Redis Cluster.

use redis::aio::ConnectionManager;
use redis::{FromRedisValue, RedisResult, ScriptInvocation};

/// A multiplexed connection that reconnects by itself; cheap to clone.
#[derive(Clone)]
pub(crate) enum Connection {
    /// One endpoint through the reconnecting `ConnectionManager`.
    Single(ConnectionManager),
    /// A cluster through the async cluster client, which routes each command to its slot's
    /// primary, follows `MOVED` and `ASK`, refreshes the slot map and reconnects.
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Connection {
    /// Runs a script through the client's own script invocation: `EVALSHA`, and on `NOSCRIPT`
    /// (a fresh node, a replica just promoted, a node that just took over the slot) `SCRIPT LOAD`
    /// and `EVALSHA` again.
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        match self {
            Connection::Single(connection) => {
                invocation.invoke_async(&mut connection.clone()).await
            }
            #[cfg(feature = "cluster")]
            Connection::Cluster(connection) => {
                invocation.invoke_async(&mut connection.clone()).await
            }
        }
    }

    pub(crate) fn is_cluster(&self) -> bool {
        match self {
            Connection::Single(_) => false,
            #[cfg(feature = "cluster")]
            Connection::Cluster(_) => true,
        }
    }
}

/// Splits the content of `RXSCALE_REDIS_URL` into node URLs: comma-separated, each starting with
/// a scheme. A comma that is not followed by a scheme stays in the URL before it (an unencoded
/// comma in a password), so that a single URL is never cut in two.
pub(crate) fn split_urls(urls: &str) -> Vec<String> {
    const SCHEMES: &[&str] = &[
        "redis://",
        "rediss://",
        "redis+unix://",
        "unix://",
        "valkey://",
        "valkeys://",
    ];
    let mut nodes: Vec<String> = Vec::new();
    for piece in urls.split(',') {
        let trimmed = piece.trim();
        let starts_a_url = SCHEMES.iter().any(|scheme| {
            trimmed.len() >= scheme.len() && trimmed[..scheme.len()].eq_ignore_ascii_case(scheme)
        });
        match nodes.last_mut() {
            Some(previous) if !starts_a_url => {
                previous.push(',');
                previous.push_str(piece);
            }
            _ => nodes.push(trimmed.to_owned()),
        }
    }
    for node in &mut nodes {
        let end = node
            .trim_end_matches(|c: char| c == ',' || c.is_whitespace())
            .len();
        node.truncate(end);
    }
    nodes.retain(|node| !node.is_empty());
    nodes
}

#[cfg(test)]
mod tests {
    use super::split_urls;

    #[test]
    fn one_url_is_one_node() {
        assert_eq!(
            split_urls("redis://127.0.0.1:6379/0"),
            ["redis://127.0.0.1:6379/0"]
        );
    }

    #[test]
    fn a_comma_separated_list_is_several_nodes() {
        assert_eq!(
            split_urls("redis://a:7000, redis://b:7001 ,rediss://c:7002"),
            ["redis://a:7000", "redis://b:7001", "rediss://c:7002"]
        );
    }

    #[test]
    fn a_comma_in_a_password_does_not_split_the_url() {
        assert_eq!(
            split_urls("redis://:pa,ss@a:7000,redis://:x,y@b:7001"),
            ["redis://:pa,ss@a:7000", "redis://:x,y@b:7001"]
        );
    }

    #[test]
    fn empty_pieces_are_dropped() {
        assert_eq!(split_urls("redis://a:1,, "), ["redis://a:1"]);
        assert_eq!(split_urls("redis://:a,,b@h:1"), ["redis://:a,,b@h:1"]);
        assert!(split_urls("").is_empty());
        assert!(split_urls(" , ").is_empty());
    }
}
