//! Vendor dialects and their ids.
//!
//! A webhook made through a vendor dialect (`/compat/<vendor>`) is an ordinary webhook of the
//! ledger, but its clients expect the vendor's id format: 24 hex digits for Salesfinity and
//! Saleshandy (a MongoDB ObjectId look), an int32 for SuperOffice and Sonar, a string for
//! SalesOS. Rather than keep a mapping table, the vendor id is **written into the webhook id**,
//! so the two are one value read two ways:
//!
//! ```text
//! wh_ <12 hex ms time> 8 <11 hex random> <8 hex tag>    Salesfinity, Saleshandy, SalesOS
//!     └──────────── vendor id (24 hex) ───┘             (SalesOS: the whole `wh_…` id)
//! wh_ <8 hex tag> 0000 8000 00000000 <8 hex n>          SuperOffice, Sonar: vendor id n ≥ 1
//! ```
//!
//! Native ids are UUIDv7, whose 13th hex digit is `7`; dialect ids put an `8` there (RFC 9562's
//! version 8, "custom"), so no native id is ever read as a dialect id. The tag names the dialect.
//! Uniqueness comes from the ledger itself: creating a webhook whose id exists answers
//! `AlreadyExists`, so a caller that picked a taken id (two replicas allocating the same
//! SuperOffice number, or a random collision) picks again. Both directions cost nothing: no
//! lookup, no table, and the id (hence the dialect) is in every `webhook.*` event forever.

use std::fmt;

use uuid::Uuid;

use crate::ids::WebhookId;

/// A vendor whose webhook API hookledger speaks under `/compat/<vendor>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Salesfinity,
    Saleshandy,
    Salesos,
    Superoffice,
    Sonar,
}

/// How a dialect writes its ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdForm {
    /// 24 lowercase hex digits.
    Hex24,
    /// The whole `wh_…` webhook id.
    WebhookId,
    /// A positive int32.
    Int32,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: [Self; 5] = [
        Self::Salesfinity,
        Self::Saleshandy,
        Self::Salesos,
        Self::Superoffice,
        Self::Sonar,
    ];

    /// The path segment under `/compat` (`salesfinity`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Salesfinity => "salesfinity",
            Self::Saleshandy => "saleshandy",
            Self::Salesos => "salesos",
            Self::Superoffice => "superoffice",
            Self::Sonar => "sonar",
        }
    }

    /// The 8 hex digits that mark this dialect's webhook ids.
    fn tag(self) -> &'static str {
        match self {
            Self::Salesfinity => "5f1a17e5",
            Self::Saleshandy => "5a4d0e5a",
            Self::Salesos => "5a1e5050",
            Self::Superoffice => "50ff1ce0",
            Self::Sonar => "50a40000",
        }
    }

    /// How this dialect writes ids.
    pub fn id_form(self) -> IdForm {
        match self {
            Self::Salesfinity | Self::Saleshandy => IdForm::Hex24,
            Self::Salesos => IdForm::WebhookId,
            Self::Superoffice | Self::Sonar => IdForm::Int32,
        }
    }

    /// A fresh webhook id of this dialect, for `Hex24` and `WebhookId` forms; ids made later
    /// sort after this one, like native ids. `None` for `Int32` dialects, which number
    /// their webhooks ([`Dialect::numbered`]).
    pub fn new_webhook_id(self) -> Option<WebhookId> {
        if self.id_form() == IdForm::Int32 {
            return None;
        }
        let hex = Uuid::now_v7().simple().to_string();
        // hex[12] is the version digit: 7 for native ids, 8 here.
        let id = format!("wh_{}8{}{}", &hex[..12], &hex[13..24], self.tag());
        WebhookId::parse(&id).ok()
    }

    /// The webhook id of number `n` of an `Int32` dialect; `None` for other forms or `n < 1`.
    pub fn numbered(self, n: i32) -> Option<WebhookId> {
        if self.id_form() != IdForm::Int32 || n < 1 {
            return None;
        }
        WebhookId::parse(&format!("wh_{}0000800000000000{n:08x}", self.tag())).ok()
    }

    /// The vendor id of a webhook of this dialect, as the vendor writes it; `None` when the
    /// webhook was not made through this dialect.
    pub fn vendor_id(self, id: &WebhookId) -> Option<String> {
        let hex = id.as_str().strip_prefix(WebhookId::PREFIX)?;
        match self.id_form() {
            IdForm::Hex24 | IdForm::WebhookId => {
                // hex[16] is the RFC 9562 variant (8, 9, a or b), which numbered ids lack.
                let ours = &hex[12..13] == "8"
                    && matches!(&hex[16..17], "8" | "9" | "a" | "b")
                    && &hex[24..] == self.tag();
                ours.then(|| match self.id_form() {
                    IdForm::Hex24 => hex[..24].to_owned(),
                    _ => id.to_string(),
                })
            }
            IdForm::Int32 => self.number(id).map(|n| n.to_string()),
        }
    }

    /// The number of an `Int32` dialect's webhook.
    pub fn number(self, id: &WebhookId) -> Option<i32> {
        let hex = id.as_str().strip_prefix(WebhookId::PREFIX)?;
        let ours = self.id_form() == IdForm::Int32
            && &hex[..8] == self.tag()
            && &hex[8..24] == "0000800000000000";
        let n = i32::try_from(u32::from_str_radix(&hex[24..], 16).ok()?).ok()?;
        (ours && n >= 1).then_some(n)
    }

    /// The webhook id a vendor id names, if it is well formed for this dialect (whether such
    /// a webhook exists is for the ledger or a view to say).
    pub fn webhook_id(self, vendor_id: &str) -> Option<WebhookId> {
        let id = match self.id_form() {
            IdForm::Hex24 => {
                let hex = vendor_id.len() == 24
                    && vendor_id
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !hex {
                    return None;
                }
                WebhookId::parse(&format!("wh_{vendor_id}{}", self.tag())).ok()?
            }
            IdForm::WebhookId => WebhookId::parse(vendor_id).ok()?,
            IdForm::Int32 => return self.numbered(vendor_id.parse().ok()?),
        };
        self.vendor_id(&id).is_some().then_some(id)
    }

    /// The dialect a webhook was made through, if any.
    pub fn of(id: &WebhookId) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.vendor_id(id).is_some())
    }

    /// A POSIX regular expression (PostgreSQL `~`) matching exactly this dialect's ids.
    pub fn id_regex(self) -> String {
        match self.id_form() {
            IdForm::Hex24 | IdForm::WebhookId => {
                format!(
                    "^wh_[0-9a-f]{{12}}8[0-9a-f]{{3}}[89ab][0-9a-f]{{7}}{}$",
                    self.tag()
                )
            }
            IdForm::Int32 => format!("^wh_{}0000800000000000[0-7][0-9a-f]{{7}}$", self.tag()),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_read_both_ways_and_sort_by_creation() {
        for dialect in [Dialect::Salesfinity, Dialect::Saleshandy] {
            let a = dialect.new_webhook_id().unwrap();
            let b = dialect.new_webhook_id().unwrap();
            assert!(a < b, "{a} sorts before {b}");
            let vendor = dialect.vendor_id(&a).unwrap();
            assert_eq!(vendor.len(), 24);
            assert_eq!(dialect.webhook_id(&vendor), Some(a.clone()));
            assert_eq!(Dialect::of(&a), Some(dialect));
        }
    }

    #[test]
    fn numbered_ids_read_both_ways() {
        let id = Dialect::Superoffice.numbered(541).unwrap();
        assert_eq!(Dialect::Superoffice.vendor_id(&id).as_deref(), Some("541"));
        assert_eq!(Dialect::Superoffice.webhook_id("541"), Some(id.clone()));
        assert_eq!(Dialect::Superoffice.number(&id), Some(541));
        assert_eq!(Dialect::Sonar.vendor_id(&id), None);
        assert_eq!(Dialect::of(&id), Some(Dialect::Superoffice));
        assert!(Dialect::Superoffice.numbered(0).is_none());
        assert!(Dialect::Superoffice.webhook_id("-3").is_none());
        assert!(Dialect::Superoffice.webhook_id("0").is_none());
        assert!(Dialect::Superoffice.numbered(i32::MAX).is_some());
    }

    #[test]
    fn native_ids_and_other_dialects_ids_are_not_read_as_ours() {
        let native = WebhookId::new();
        assert_eq!(Dialect::of(&native), None);
        let salesfinity = Dialect::Salesfinity.new_webhook_id().unwrap();
        let vendor = Dialect::Salesfinity.vendor_id(&salesfinity).unwrap();
        assert_eq!(Dialect::Saleshandy.vendor_id(&salesfinity), None);
        // The same 24 hex digits name another webhook in another dialect.
        assert_ne!(
            Dialect::Saleshandy.webhook_id(&vendor),
            Some(salesfinity.clone())
        );
        assert!(
            Dialect::Salesfinity
                .webhook_id("507F1F77BCF86CD799439011")
                .is_none()
        );
        assert!(Dialect::Salesfinity.webhook_id("507f1f77").is_none());
        assert!(Dialect::Salesos.webhook_id(native.as_str()).is_none());
        let salesos = Dialect::Salesos.new_webhook_id().unwrap();
        assert_eq!(
            Dialect::Salesos.vendor_id(&salesos).as_deref(),
            Some(salesos.as_str())
        );
    }

    #[test]
    fn numbers_that_spell_a_tag_stay_numbers() {
        let id = Dialect::Superoffice.numbered(0x5f1a_17e5).unwrap();
        assert_eq!(Dialect::of(&id), Some(Dialect::Superoffice));
    }
}
