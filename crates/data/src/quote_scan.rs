//! Where a quoted CSV field opens and whether it closes, byte by byte: for telling a quote that
//! never closes (which the CSV reader would take as the rest of the file) from a long field.

/// Where a quoted field opens and whether it closes, byte by byte, following the CSV reader's
/// rules: a `"` opens a quoted field only as a field's first byte, `""` inside is a literal
/// quote, and a closing quote may be followed by more unquoted bytes.
#[derive(Debug, Clone)]
pub(crate) struct QuoteScan {
    delimiter: u8,
    line: usize,
    opened_on: usize,
    at_field_start: bool,
    quoted: bool,
    /// A `"` seen inside a quoted field: it closes the field unless another `"` follows.
    quote_pending: bool,
}

impl QuoteScan {
    pub(crate) fn new(delimiter: u8) -> Self {
        Self {
            delimiter,
            line: 1,
            opened_on: 0,
            at_field_start: true,
            quoted: false,
            quote_pending: false,
        }
    }

    pub(crate) fn step(&mut self, c: u8) {
        if self.quote_pending {
            self.quote_pending = false;
            if c == b'"' {
                return; // an escaped quote: still inside the field
            }
            self.quoted = false;
        }
        if self.quoted {
            if c == b'"' {
                self.quote_pending = true;
            }
        } else if c == b'"' && self.at_field_start {
            self.quoted = true;
            self.opened_on = self.line;
        }
        if c == b'\n' {
            self.line += 1;
        }
        let open = self.quoted && !self.quote_pending;
        self.at_field_start =
            !open && !self.quote_pending && (c == self.delimiter || c == b'\n' || c == b'\r');
    }

    /// The 1-based line where a quoted field opens that has not closed by the end.
    pub(crate) fn unclosed(&self) -> Option<usize> {
        (self.quoted && !self.quote_pending).then_some(self.opened_on)
    }
}
