//! Settings types parse what `Display` writes (so configs can store them as strings), and
//! their errors list the accepted values.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::fmt::Display;
use std::path::Path;
use std::str::FromStr;

use spam_data::{
    Column, Delimiter, Padding, ParseMode, SourceFormat, SourceKind, TableOptions, delimiter_for,
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
    round_trips(&[SourceKind::Sms, SourceKind::Table]);
    round_trips(&[
        Delimiter::Auto,
        Delimiter::Byte(b'\t'),
        Delimiter::Byte(b','),
        Delimiter::Byte(b'|'),
    ]);
}

#[test]
fn names_parse_and_are_what_display_writes() {
    for name in ParseMode::NAMES {
        assert_eq!(name.parse::<ParseMode>().unwrap().to_string(), name);
    }
    for name in SourceKind::NAMES {
        assert_eq!(name.parse::<SourceKind>().unwrap().to_string(), name);
    }
    for form in Padding::FORMS {
        let form = form.replace('N', "64");
        assert_eq!(form.parse::<Padding>().unwrap().to_string(), form);
    }
}

#[test]
fn errors_list_the_accepted_values() {
    let msg = "x".parse::<ParseMode>().unwrap_err().to_string();
    assert!(msg.contains("`lines` or `pandas`"), "{msg}");
    let msg = "x".parse::<Padding>().unwrap_err().to_string();
    assert!(
        msg.contains("`longest`, `fixed:N`, `none` or `dynamic`"),
        "{msg}"
    );
    let msg = "x".parse::<SourceKind>().unwrap_err().to_string();
    assert!(msg.contains("`sms` or `table`"), "{msg}");
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
