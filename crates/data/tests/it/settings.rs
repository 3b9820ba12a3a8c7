//! Settings types parse what `Display` writes (so configs can store them as strings), and
//! their errors list the accepted values.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::fmt::Display;
use std::path::Path;
use std::str::FromStr;

use spam_data::{
    Column, Delimiter, Named, Padding, ParseMode, SourceFormat, SourceKind, SplitFormat,
    TableOptions, delimiter_for,
};

fn round_trips<T>(values: &[T])
where
    T: FromStr + Display + PartialEq + std::fmt::Debug,
    T::Err: std::fmt::Debug,
{
    for v in values {
        let text = v.to_string();
        assert_eq!(&text.parse::<T>().unwrap(), v, "{text:?}");
    }
}

#[test]
fn display_parses_back() {
    round_trips(&[ParseMode::Lines, ParseMode::PandasCompatible]);
    round_trips(&[
        Padding::Longest,
        Padding::Fixed(120),
        Padding::None,
        Padding::Dynamic,
    ]);
    round_trips(&[SourceKind::Sms, SourceKind::Table, SourceKind::Parquet]);
    round_trips(&[SplitFormat::Csv, SplitFormat::Parquet]);
    round_trips(&[
        Delimiter::Auto,
        Delimiter::Byte(b'\t'),
        Delimiter::Byte(b','),
        Delimiter::Byte(b'|'),
    ]);
}

/// Each name of `T`'s table parses to its value, which `Display` writes as the name; each
/// alias parses to the same value.
fn names_round_trip<T>()
where
    T: Named + FromStr + Display,
    T::Err: std::fmt::Debug,
{
    for (value, name, aliases) in T::NAMES {
        assert_eq!(&name.parse::<T>().unwrap(), value, "{name:?}");
        assert_eq!(value.to_string(), *name);
        for alias in *aliases {
            assert_eq!(&alias.parse::<T>().unwrap(), value, "{alias:?}");
        }
    }
}

#[test]
fn names_parse_and_are_what_display_writes() {
    names_round_trip::<ParseMode>();
    names_round_trip::<SourceKind>();
    names_round_trip::<SplitFormat>();
    names_round_trip::<Padding>();
    names_round_trip::<Delimiter>();
    for form in Padding::FORMS {
        let form = form.trim_matches('`').replace('N', "64");
        assert_eq!(form.parse::<Padding>().unwrap().to_string(), form);
    }
}

#[test]
fn errors_list_the_accepted_values() {
    let msg = "x".parse::<ParseMode>().unwrap_err().to_string();
    assert!(msg.contains("`pandas` or `lines`"), "{msg}");
    let msg = "x".parse::<Padding>().unwrap_err().to_string();
    assert!(
        msg.contains("`longest`, `none`, `dynamic` or `fixed:N`"),
        "{msg}"
    );
    let msg = "x".parse::<SourceKind>().unwrap_err().to_string();
    assert!(msg.contains("`sms`, `table` or `parquet`"), "{msg}");
    let msg = "x".parse::<SplitFormat>().unwrap_err().to_string();
    assert!(msg.contains("`csv` or `parquet`"), "{msg}");
    let msg = "xy".parse::<Delimiter>().unwrap_err().to_string();
    assert!(msg.contains("`auto`, `tab` or one character"), "{msg}");
}

#[test]
fn source_kind_of_a_format() {
    assert_eq!(SourceFormat::Sms(ParseMode::Lines).kind(), SourceKind::Sms);
    let table = SourceFormat::Table(TableOptions::csv("text", "label"));
    assert_eq!(table.kind(), SourceKind::Table);
    assert_eq!("tsv".parse::<SourceKind>().unwrap(), SourceKind::Table);
}

#[test]
fn table_options_follow_the_file_name() {
    let tsv = TableOptions::for_file(Path::new("data/reviews.TXT"), "text", 1);
    assert_eq!(tsv.delimiter, b'\t');
    assert_eq!(tsv.label_column, Column::Index(1));
    let csv = TableOptions::for_file(Path::new("data/reviews.csv"), "text", "label");
    assert_eq!(csv, TableOptions::csv("text", "label"));
    assert_eq!(delimiter_for(Path::new("noext")), b',');
}
