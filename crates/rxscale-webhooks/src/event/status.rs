//! Status vocabularies (spec §4.8). All are open: a value we have never seen decodes into
//! `Other(String)` instead of failing, and is compared exactly, never normalised.

macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version of the SDK does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The exact wire string.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Other(other) => other,
                }
            }

            /// Maps a wire string to its variant, or to `Other`.
            #[must_use]
            pub fn from_wire(value: &str) -> Self {
                match value {
                    $( $wire => $name::$variant, )*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Ok($name::from_wire(value))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct WireVisitor;
                impl ::serde::de::Visitor<'_> for WireVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str("a status string")
                    }
                    fn visit_str<E: ::serde::de::Error>(self, value: &str) -> Result<$name, E> {
                        Ok($name::from_wire(value))
                    }
                }
                deserializer.deserialize_str(WireVisitor)
            }
        }
    };
}

open_enum! {
    /// Status of a pharmacy order (`data.status` of `pharmacy_order_*`, spec §4.8.1).
    ///
    /// Legacy values (`created`, `open`, `processing`, `shipped`) arrive as `Other`.
    PharmacyOrderStatus {
        /// `init`: received, not yet in the pharmacy's queue.
        Init => "init",
        /// `waiting for pharmacy`: in the pharmacy's queue.
        WaitingForPharmacy => "waiting for pharmacy",
        /// `pending review`: the pharmacy is reviewing it.
        PendingReview => "pending review",
        /// `on-hold`: paused while an issue is clarified.
        OnHold => "on-hold",
        /// `in-progress`: being prepared.
        InProgress => "in-progress",
        /// `ready_for_pickup`: packed, ready for pickup or shipping.
        ReadyForPickup => "ready_for_pickup",
        /// `completed`: fulfilled; stock reduced.
        Completed => "completed",
        /// `cancelled`: cancelled before completion.
        Cancelled => "cancelled",
    }
}

open_enum! {
    /// Status of a patient–doctor meeting or appointment (spec §4.8.4).
    MeetingStatus {
        /// `held`: slot reserved but not yet confirmed.
        Held => "held",
        /// `confirmed`: booked.
        Confirmed => "confirmed",
        /// `cancelled`.
        Cancelled => "cancelled",
        /// `expired`: a hold lapsed before confirmation.
        Expired => "expired",
        /// `completed`: finished.
        Completed => "completed",
        /// `no_show`: the patient did not attend.
        NoShow => "no_show",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_unknown_and_escaped_values() {
        let known: PharmacyOrderStatus = serde_json::from_str(r#""waiting for pharmacy""#).unwrap();
        assert_eq!(known, PharmacyOrderStatus::WaitingForPharmacy);
        let legacy: PharmacyOrderStatus = serde_json::from_str(r#""shipped""#).unwrap();
        assert_eq!(legacy, PharmacyOrderStatus::Other("shipped".into()));
        let escaped: PharmacyOrderStatus = serde_json::from_str(r#""in\u002dprogress""#).unwrap();
        assert_eq!(escaped, PharmacyOrderStatus::InProgress);
        // Exact comparison: other spellings are not normalised.
        let other: MeetingStatus = serde_json::from_str(r#""No_Show""#).unwrap();
        assert_eq!(other.as_str(), "No_Show");
        assert_eq!(
            serde_json::to_string(&MeetingStatus::NoShow).unwrap(),
            r#""no_show""#
        );
    }
}
