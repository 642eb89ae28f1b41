//! An invoice as a PDF: one A4 page, the standard Helvetica (referenced,
//! not embedded: every reader has it), drawn with `pdf-writer`. Text is
//! kept to the standard encoding's printable ASCII: anything else in a name
//! or address prints as `?` rather than as a wrong glyph.

use crate::dto::{money_text, timestamp};
use engine::invoices::Invoice;
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// Who issues invoices (`[invoices]` in the settings).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    /// The issuer's name, printed at the top.
    pub issuer_name: String,
    /// The issuer's address (one line).
    pub issuer_address: String,
    /// Whether a transfer's fee (the platform's income) is invoiced, to
    /// the transfer's payer.
    pub transfer_fees: bool,
}

/// The PDF of `invoice`.
pub fn render(invoice: &Invoice, issuer: &Issuer) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let page = Ref::new(3);
    let regular = Ref::new(4);
    let bold = Ref::new(5);
    let content_id = Ref::new(6);
    let info = Ref::new(7);
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page]).count(1);
    let mut writer = pdf.page(page);
    writer
        .media_box(Rect::new(0.0, 0.0, 595.0, 842.0))
        .parent(tree)
        .contents(content_id);
    {
        let mut resources = writer.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(b"F1"), regular);
        fonts.pair(Name(b"F2"), bold);
    }
    writer.finish();
    pdf.type1_font(regular).base_font(Name(b"Helvetica"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold"));
    let title = format!("Invoice {}", invoice.number);
    pdf.document_info(info)
        .title(pdf_writer::TextStr(&ascii(&title)));

    let mut lines = Lines::new();
    lines.text(true, 20.0, &issuer.issuer_name);
    lines.text(false, 10.0, &issuer.issuer_address);
    lines.gap(18.0);
    lines.text(true, 16.0, &title);
    lines.text(false, 10.0, &format!("Status: {}", "paid"));
    lines.text(
        false,
        10.0,
        &format!("Issued: {}", timestamp(invoice.issued_at_ms)),
    );
    lines.text(
        false,
        10.0,
        &format!("Due: {}", timestamp(invoice.due_at_ms)),
    );
    lines.text(
        false,
        10.0,
        &format!("Paid: {}", timestamp(invoice.paid_at_ms)),
    );
    lines.gap(12.0);
    lines.text(true, 11.0, "Bill to");
    let name = invoice.billing.name.as_deref().unwrap_or(&invoice.customer);
    lines.text(false, 10.0, name);
    if let Some(address) = &invoice.billing.address {
        lines.text(false, 10.0, address);
    }
    lines.text(false, 10.0, &format!("Customer: {}", invoice.customer));
    lines.text(false, 10.0, &format!("Wallet: {}", invoice.wallet_id));
    lines.gap(12.0);
    lines.text(true, 11.0, "Items");
    for item in &invoice.items {
        lines.text(
            false,
            10.0,
            &format!(
                "{}    {} {}",
                item.description,
                money_text(item.amount, invoice.currency),
                invoice.currency
            ),
        );
    }
    lines.gap(8.0);
    lines.text(
        true,
        12.0,
        &format!(
            "Total: {} {}",
            money_text(invoice.amount, invoice.currency),
            invoice.currency
        ),
    );
    lines.text(false, 9.0, &format!("Transaction: {}", invoice.txn_id));
    pdf.stream(content_id, &lines.content.finish());
    pdf.finish()
}

/// Lines of text from the top of the page down.
struct Lines {
    content: Content,
    y: f32,
}

impl Lines {
    fn new() -> Lines {
        Lines {
            content: Content::new(),
            y: 790.0,
        }
    }

    fn text(&mut self, bold: bool, size: f32, text: &str) {
        self.y -= size * 1.5;
        self.content.begin_text();
        self.content
            .set_font(Name(if bold { b"F2" } else { b"F1" }), size);
        self.content.next_line(56.0, self.y);
        self.content.show(Str(ascii(text).as_bytes()));
        self.content.end_text();
    }

    fn gap(&mut self, points: f32) {
        self.y -= points;
    }
}

/// Printable ASCII only (see the module documentation).
fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}
