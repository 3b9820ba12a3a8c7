//! What `--help` shows of accepted values and defaults, declared with each argument: the
//! possible values of a flag come from its type's table of names ([`Named::NAMES`], beside the
//! type in its library), and the defaults of train flags from `RunConfig::default()`.
//!
//! Train flags are `Option`s, so that a `--config` file is not overridden by a default:
//! their defaults are written into the help text ([`ShownDefault::shown_default`]) rather
//! than made clap defaults.

use std::ffi::OsStr;
use std::fmt::Debug;
use std::marker::PhantomData;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Arg, Command};
use spam_data::Named;
use spam_runs::RunConfig;

/// The parser of a flag that takes one of `T`'s names: `--help` and shell completions list the
/// names as possible values; a name or an alias is accepted in any case, and a bad value is
/// clap's error naming the flag and the possible values.
pub fn named<T: Named + Send + Sync>() -> NamedParser<T> {
    NamedParser(PhantomData)
}

/// See [`named`].
#[derive(Debug)]
pub struct NamedParser<T>(PhantomData<fn() -> T>);

impl<T> Clone for NamedParser<T> {
    fn clone(&self) -> Self {
        NamedParser(PhantomData)
    }
}

impl<T> NamedParser<T>
where
    T: Named,
{
    fn possible() -> impl Iterator<Item = PossibleValue> {
        T::NAMES
            .iter()
            .map(|(_, name, aliases)| PossibleValue::new(*name).aliases(aliases.iter().copied()))
    }
}

impl<T> TypedValueParser for NamedParser<T>
where
    T: Named + Send + Sync,
{
    type Value = T;

    fn parse_ref(&self, cmd: &Command, arg: Option<&Arg>, value: &OsStr) -> Result<T, clap::Error> {
        // Names and aliases match in any case on the command line.
        let arg = arg.map(|a| a.clone().ignore_case(true));
        let text =
            PossibleValuesParser::new(Self::possible()).parse_ref(cmd, arg.as_ref(), value)?;
        let matches = |s: &str| s.eq_ignore_ascii_case(&text);
        T::NAMES
            .iter()
            .find(|(_, name, aliases)| matches(name) || aliases.iter().copied().any(matches))
            .map(|(value, _, _)| value.clone())
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidValue).with_cmd(cmd))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(Self::possible()))
    }
}

/// Writes a default into an argument's help, after the doc comment's text, as clap writes its
/// own: `[default: 5]`. `None` writes nothing.
pub trait ShownDefault {
    /// The argument with `default` in its help.
    fn shown_default(self, default: Option<String>) -> Self;
}

impl ShownDefault for Arg {
    fn shown_default(self, default: Option<String>) -> Arg {
        let Some(default) = default else {
            return self;
        };
        let help = self.get_help().map(ToString::to_string).unwrap_or_default();
        let sep = if help.is_empty() { "" } else { " " };
        self.help(format!("{help}{sep}[default: {default}]"))
    }
}

/// Which defaults a command's help shows for the flags it shares (`DataArgs`).
pub trait Defaults: Clone + Debug + Send + Sync + 'static {
    /// The default that `get` reads from `RunConfig::default()`, as help shows it; `None`
    /// where this command shows none.
    fn of<T: Into<serde_json::Value>>(get: impl FnOnce(RunConfig) -> T) -> Option<String>;
}

/// `RunConfig::default()`'s values, as `train` and `prepare` start from them.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunDefaults;

impl Defaults for RunDefaults {
    fn of<T: Into<serde_json::Value>>(get: impl FnOnce(RunConfig) -> T) -> Option<String> {
        // As the config's JSON spells it (`0.0`, `0.00005`), a string without its quotes.
        Some(match get(RunConfig::default()).into() {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
    }
}

/// No defaults: `experiments` takes each row's own settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDefaults;

impl Defaults for NoDefaults {
    fn of<T: Into<serde_json::Value>>(_: impl FnOnce(RunConfig) -> T) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{Defaults, RunDefaults};

    #[test]
    fn defaults_read_as_the_config_spells_them() {
        assert_eq!(RunDefaults::of(|c| c.train.epochs).as_deref(), Some("5"));
        assert_eq!(RunDefaults::of(|c| c.model.dropout).as_deref(), Some("0.0"));
        assert_eq!(
            RunDefaults::of(|c| c.data.padding.to_string()).as_deref(),
            Some("longest")
        );
    }
}
