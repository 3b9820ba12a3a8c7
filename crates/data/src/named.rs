//! Settings with named values, named once: each value's name and the aliases also accepted
//! live in one table beside the type ([`Named::NAMES`]), which its `FromStr`, `Display` and
//! error message read, and from which spam-cli builds `--help`'s possible values.

use std::fmt;

/// A setting whose values have names: a closed set (every value named, as [`crate::ParseMode`])
/// or named values beside forms with a parameter ([`crate::Padding`]: `longest`, `none`,
/// `dynamic` and `fixed:N`).
///
/// [`Named::NAMES`] is the one place the spellings live. A type's `FromStr` normalises its
/// input as it always has (trimmed, lower case, ... as the type documents) and looks it up
/// with [`Named::from_name`]; its `Display` writes [`Named::name_of`]; its error message is
/// [`Named::unknown`].
pub trait Named: Sized + Clone + PartialEq + fmt::Debug + 'static {
    /// What a value is called in messages: `"parse mode"`.
    const WHAT: &'static str;

    /// Every named value in the order help and messages list them: the value, its name (what
    /// `Display` writes) and the aliases `FromStr` also accepts.
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])];

    /// The spellings of values with a parameter, as help and messages show them (`` `fixed:N` ``,
    /// `one character`); empty for a closed set.
    const FORMS: &'static [&'static str] = &[];

    /// The value whose name or alias is `s`, exactly as the table spells it.
    fn from_name(s: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(_, name, aliases)| *name == s || aliases.contains(&s))
            .map(|(value, _, _)| value.clone())
    }

    /// The name of `self`, if it is a named value.
    fn name_of(&self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(value, _, _)| value == self)
            .map(|(_, name, _)| *name)
    }

    /// Writes the name of `self` (a value missing from the table, which a test of its type
    /// catches, as its `Debug` form).
    fn write_name(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name_of() {
            Some(name) => f.write_str(name),
            None => write!(f, "{self:?}"),
        }
    }

    /// What is accepted, as messages list it: `` `lines` or `pandas` ``, then the forms.
    fn accepted() -> String {
        let names = Self::NAMES.iter().map(|(_, name, _)| format!("`{name}`"));
        let all: Vec<String> = names
            .chain(Self::FORMS.iter().map(ToString::to_string))
            .collect();
        match all.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            Some((last, _)) => last.clone(),
            None => String::new(),
        }
    }

    /// The message for `s`, which names no value: ``unknown parse mode "x": expected `lines`
    /// or `pandas` ``.
    fn unknown(s: &str) -> String {
        format!(
            "unknown {} {s:?}: expected {}",
            Self::WHAT,
            Self::accepted()
        )
    }
}

/// Implements serde's `Serialize` and `Deserialize` for a type through its `Display` and
/// `FromStr`, so a file spells its values as the table does (and accepts the aliases), and a
/// bad value fails with the type's own message. Expands to paths of `serde`, which the crate
/// that invokes it depends on (spam-data does not).
#[macro_export]
macro_rules! serde_by_name {
    ($ty:ty) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(
                &self,
                s: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                d: D,
            ) -> ::core::result::Result<Self, D::Error> {
                let text = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::Named;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Three {
        A,
        B,
        C,
    }

    impl Named for Three {
        const WHAT: &'static str = "letter";
        const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
            (Self::A, "a", &["alpha"]),
            (Self::B, "b", &[]),
            (Self::C, "c", &[]),
        ];
    }

    #[test]
    fn looks_up_names_and_aliases() {
        assert_eq!(Three::from_name("alpha"), Some(Three::A));
        assert_eq!(Three::from_name("b"), Some(Three::B));
        assert_eq!(Three::from_name("B"), None);
        assert_eq!(Three::C.name_of(), Some("c"));
        assert_eq!(Three::accepted(), "`a`, `b` or `c`");
        assert_eq!(
            Three::unknown("d"),
            "unknown letter \"d\": expected `a`, `b` or `c`"
        );
    }
}
