//! Enumerations whose values have fixed names: OCPP's values as the specification spells
//! them, and Arus's own (command statuses, roles) as the API and the store write them.
//!
//! Invariant: `parse(v.as_str()) == Some(v)` for every value, and `ALL` lists every value once;
//! the one macro below writes all three from the variant list, so they cannot drift apart.

/// Defines an enumeration with `ALL`, `as_str` and `parse`. A value is named by its variant
/// unless a name follows it (`ReadOnly = "read-only"`).
macro_rules! named_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident {
        $($(#[$vm:meta])* $variant:ident $(= $spelled:literal)?),* $(,)?
    }) => {
        $(#[$m])*
        $vis enum $name {
            $($(#[$vm])* $variant,)*
        }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The value's name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $crate::names::named_enum!(@name $variant $($spelled)?),)*
                }
            }

            /// The value named `s` (as [`Self::as_str`] writes it).
            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
    (@name $variant:ident) => { stringify!($variant) };
    (@name $variant:ident $spelled:literal) => { $spelled };
}
pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    named_enum! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Sample { Plain, Spelled = "spelled-out" }
    }

    #[test]
    fn names_read_back_and_all_lists_every_value() {
        assert_eq!(Sample::ALL, &[Sample::Plain, Sample::Spelled]);
        assert_eq!(Sample::Plain.as_str(), "Plain");
        assert_eq!(Sample::Spelled.as_str(), "spelled-out");
        for v in Sample::ALL {
            assert_eq!(Sample::parse(v.as_str()), Some(*v));
        }
        assert_eq!(Sample::parse("Spelled"), None);
    }
}
