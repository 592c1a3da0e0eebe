//! How a customer can be reached: the formats we accept for phone numbers and emails.

/// A phone number: an optional leading `+`, then digits with spaces, dashes or parentheses
/// between them; 5 to 20 digits in all (short service numbers to full international ones).
pub fn is_valid_phone(phone: &str) -> bool {
    let body = phone.strip_prefix('+').unwrap_or(phone);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    (5..=20).contains(&digits)
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || " -()".contains(c))
        && body.starts_with(|c: char| c.is_ascii_digit() || c == '(')
}

/// An email address: `local@domain`, no spaces, a domain of at least two dot-separated labels.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    email.len() <= 254
        && !local.is_empty()
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !local.contains('@')
        && labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        for ok in [
            "+86 138 0013 8000",
            "13800138000",
            "(010) 6552-9988",
            "12345",
        ] {
            assert!(is_valid_phone(ok), "{ok}");
        }
        for bad in [
            "",
            "1234",
            "+",
            "abc12345",
            "138-0013-800x",
            "-1234567",
            "+1 (555) 12345678901234567",
        ] {
            assert!(!is_valid_phone(bad), "{bad}");
        }
    }

    #[test]
    fn emails() {
        for ok in ["li.lei@example.com", "a+b@mail.example.cn"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "no-at.example.com",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@@example.com",
            "a@.example.com",
            "a@example-.com",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}

use super::ticket::{Channel, Customer};

/// How the customer must be reachable for a ticket from `channel`, as the field that is
/// missing and why; `None` when the customer can be reached. Channels that carry an account
/// (app, WeChat, social media) can answer through it; a hotline needs a phone to call back,
/// email an address; in person and API intake need nothing.
pub fn missing_contact(
    channel: Channel,
    customer: &Customer,
) -> Option<(&'static str, &'static str)> {
    let has = |s: &str| !s.trim().is_empty();
    match channel {
        Channel::Hotline if !has(&customer.phone) => Some((
            "customer.phone",
            "is required for a hotline ticket, to call the customer back",
        )),
        Channel::Email if !has(&customer.email) => Some((
            "customer.email",
            "is required for an email ticket, to answer the customer",
        )),
        Channel::WebForm if !has(&customer.phone) && !has(&customer.email) => Some((
            "customer",
            "a phone or an email is required for a web form ticket, to answer the customer",
        )),
        Channel::App | Channel::Wechat | Channel::SocialMedia
            if !has(&customer.external_id) && !has(&customer.phone) && !has(&customer.email) =>
        {
            Some((
                "customer",
                "an external_id, a phone or an email is required, to answer the customer",
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod reach_tests {
    use super::*;

    #[test]
    fn each_channel_needs_its_way_back() {
        let nobody = Customer::default();
        let phone = Customer {
            phone: "13800138000".into(),
            ..Customer::default()
        };
        let account = Customer {
            external_id: "u-1".into(),
            ..Customer::default()
        };
        assert_eq!(
            missing_contact(Channel::Hotline, &nobody).unwrap().0,
            "customer.phone"
        );
        assert!(missing_contact(Channel::Hotline, &phone).is_none());
        assert_eq!(
            missing_contact(Channel::Email, &phone).unwrap().0,
            "customer.email"
        );
        assert!(missing_contact(Channel::WebForm, &phone).is_none());
        assert!(missing_contact(Channel::WebForm, &account).is_some());
        assert!(missing_contact(Channel::App, &account).is_none());
        assert!(missing_contact(Channel::InPerson, &nobody).is_none());
        assert!(missing_contact(Channel::Api, &nobody).is_none());
    }
}
