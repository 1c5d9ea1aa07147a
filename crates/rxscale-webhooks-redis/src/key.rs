//! How a dedup key becomes a Redis key, in either mode.

/// The Redis key of `dedup_key`.
///
/// On a single node it is `{prefix}{dedup_key}`, as it always was. On a cluster the dedup key
/// is the key's one hash tag, `{prefix}{{dedup_key}}`, with `%`, `{` and `}` in it
/// percent-encoded: whatever the event's fields hold, the tag is exactly the dedup key, so that
/// every key the store derives from one event lands in the slot of that event, and events spread
/// over all slots.
pub(crate) fn redis_key(prefix: &str, dedup_key: &str, hash_tagged: bool) -> String {
    if !hash_tagged {
        return format!("{prefix}{dedup_key}");
    }
    let mut key = String::with_capacity(prefix.len() + dedup_key.len() + 2);
    key.push_str(prefix);
    key.push('{');
    for c in dedup_key.chars() {
        match c {
            '%' => key.push_str("%25"),
            '{' => key.push_str("%7B"),
            '}' => key.push_str("%7D"),
            c => key.push(c),
        }
    }
    key.push('}');
    key
}

#[cfg(any(feature = "cluster", test))]
/// Whether `prefix` can sit before a hash tag: a brace in it would start or end the tag itself.
pub(crate) fn prefix_fits_hash_tag(prefix: &str) -> bool {
    !prefix.contains(['{', '}'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_node_key_is_the_prefix_and_the_dedup_key() {
        assert_eq!(redis_key("p:", "a:1:{u}", false), "p:a:1:{u}");
    }

    #[test]
    fn a_cluster_key_carries_the_dedup_key_as_its_one_hash_tag() {
        assert_eq!(
            redis_key("rxscale-webhooks:", "order_created:1717171717:ord_1", true),
            "rxscale-webhooks:{order_created:1717171717:ord_1}"
        );
        // Braces and percent signs from the event cannot end the tag early or collide.
        assert_eq!(redis_key("p:", "a}b{c%", true), "p:{a%7Db%7Bc%25}");
        assert_ne!(redis_key("p:", "a%7Db", true), redis_key("p:", "a}b", true));
        assert_eq!(redis_key("p:", "", true), "p:{}");
    }

    #[test]
    fn braces_in_a_prefix_do_not_fit_before_a_hash_tag() {
        assert!(prefix_fits_hash_tag("rxscale-webhooks:"));
        assert!(!prefix_fits_hash_tag("app{1}:"));
        assert!(!prefix_fits_hash_tag("app}"));
    }
}
