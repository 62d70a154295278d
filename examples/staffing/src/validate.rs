//! Validators for the artifacts a recruiter sends: fill proposals, e-mail drafts and SMS.
//!
//! The rules are the reference system's. An artifact is JSON; the contract data it is
//! checked against comes in its `_context` object. Checks run in order — schema, then
//! completeness, consistency with the roster, policy — and a schema error stops the rest
//! (nothing else can be read). Every other check reports all it finds. A [`Report`] holds the
//! errors by kind and the warnings; it is valid when it has no error.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::roster::Roster;

/// One reason an artifact is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// A field is missing or of the wrong type or shape.
    Schema {
        /// The field, as a path (`fills[1].candidate_id`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Something required is not all there (too few fills, an empty message).
    Completeness {
        /// What is missing.
        reason: String,
    },
    /// The artifact disagrees with the roster or with itself.
    Consistency {
        /// The disagreement.
        reason: String,
    },
    /// The artifact breaks a rule (blacklist, SSN, pay disclosure).
    Policy {
        /// The rule broken.
        reason: String,
    },
}

impl Violation {
    /// `schema`, `completeness`, `consistency` or `policy`.
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::Schema { .. } => "schema",
            Violation::Completeness { .. } => "completeness",
            Violation::Consistency { .. } => "consistency",
            Violation::Policy { .. } => "policy",
        }
    }
}

/// The verdict on one artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// True when there is no error (warnings allowed).
    pub valid: bool,
    /// Errors, in the order the checks found them.
    pub errors: Vec<Violation>,
    /// Remarks that do not refuse the artifact.
    pub warnings: Vec<String>,
}

impl Report {
    fn finish(mut self) -> Report {
        self.valid = self.errors.is_empty();
        self
    }

    /// Whether an error of `kind` (see [`Violation::kind`]) was found.
    pub fn has(&self, kind: &str) -> bool {
        self.errors.iter().any(|e| e.kind() == kind)
    }
}

/// Which message a draft is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// An e-mail: a subject and a body of at most [`MAX_EMAIL_CHARS`].
    Email,
    /// A text message: a body of at most [`MAX_SMS_CHARS`].
    Sms,
}

/// Longest SMS body, in characters.
pub const MAX_SMS_CHARS: usize = 160;
/// Longest e-mail body, in characters.
pub const MAX_EMAIL_CHARS: usize = 10_000;
/// A `$` amount this close to a pay word (characters strictly between them) discloses pay.
pub const PAY_WINDOW: usize = 40;
/// Words that speak of pay (whole words, any case).
pub const PAY_WORDS: &[&str] = &[
    "salary",
    "salaries",
    "pay",
    "pays",
    "paid",
    "paying",
    "wage",
    "wages",
    "compensation",
    "earn",
    "earns",
    "earning",
    "earnings",
    "hourly",
    "stipend",
    "bonus",
];

/// Reads the fields of an artifact, recording schema errors.
#[derive(Default)]
struct Fields {
    errors: Vec<Violation>,
}

impl Fields {
    fn fail(&mut self, field: &str, reason: &str) {
        self.errors.push(Violation::Schema {
            field: field.to_string(),
            reason: reason.to_string(),
        });
    }

    fn object<'a>(
        &mut self,
        value: Option<&'a Value>,
        field: &str,
    ) -> Option<&'a Map<String, Value>> {
        match value {
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                self.fail(field, "must be an object");
                None
            }
            None => {
                self.fail(field, "is required");
                None
            }
        }
    }

    /// A non-empty string.
    fn text<'a>(&mut self, map: &'a Map<String, Value>, key: &str, path: &str) -> Option<&'a str> {
        match map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
            Some(Value::String(_)) => {
                self.fail(path, "must not be empty");
                None
            }
            Some(_) => {
                self.fail(path, "must be a string");
                None
            }
            None => {
                self.fail(path, "is required");
                None
            }
        }
    }
}

/// One proposed candidate.
struct Fill<'a> {
    candidate_id: &'a str,
    name: &'a str,
}

/// Checks a fill proposal `{fills: [{candidate_id, name}], _context: {target_count, city,
/// state, role, client_id}}`: the count equals `target_count`; each candidate is on the
/// roster, active, and of the role, city and state asked; none is on the client's
/// blacklist; none is proposed twice; a name that differs from the roster's (other than in
/// case) is a warning.
pub fn fill(roster: &Roster, artifact: &Value) -> Report {
    let mut f = Fields::default();
    let (mut fills, mut context) = (Vec::new(), None);
    if let Some(root) = f.object(Some(artifact), "$") {
        match root.get("fills") {
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("fills[{i}]");
                    if let Some(m) = f.object(Some(item), &path) {
                        let id = f.text(m, "candidate_id", &format!("{path}.candidate_id"));
                        let name = f.text(m, "name", &format!("{path}.name"));
                        if let (Some(candidate_id), Some(name)) = (id, name) {
                            fills.push(Fill { candidate_id, name });
                        }
                    }
                }
            }
            Some(_) => f.fail("fills", "must be an array"),
            None => f.fail("fills", "is required"),
        }
        if let Some(c) = f.object(root.get("_context"), "_context") {
            let target = match c.get("target_count").and_then(Value::as_u64) {
                Some(n) => Some(n),
                None => {
                    f.fail("_context.target_count", "must be a whole number ≥ 0");
                    None
                }
            };
            let city = f.text(c, "city", "_context.city");
            let state = f.text(c, "state", "_context.state");
            let role = f.text(c, "role", "_context.role");
            let client = f.text(c, "client_id", "_context.client_id");
            if let (Some(t), Some(ci), Some(s), Some(r), Some(cl)) =
                (target, city, state, role, client)
            {
                context = Some((t, ci, s, r, cl));
            }
        }
    }
    let mut report = Report::default();
    let Some((target, city, state, role, client)) = context.filter(|_| f.errors.is_empty()) else {
        report.errors = f.errors;
        return report.finish();
    };
    if fills.len() as u64 != target {
        report.errors.push(Violation::Completeness {
            reason: format!(
                "{} candidates proposed for a target of {target}",
                fills.len()
            ),
        });
    }
    let blacklist = roster.blacklist(client);
    if blacklist.is_none() {
        report.errors.push(Violation::Consistency {
            reason: format!("client {client} is not on the client list"),
        });
    }
    let mut seen = HashSet::new();
    for fill in &fills {
        let id = fill.candidate_id;
        match roster.worker(id) {
            None => report.errors.push(Violation::Consistency {
                reason: format!("candidate {id} is not on the roster"),
            }),
            Some(w) => {
                if w.status != "active" {
                    report.errors.push(Violation::Consistency {
                        reason: format!("candidate {id} is {}, not active", w.status),
                    });
                }
                for (what, theirs, asked) in [
                    ("role", &w.role, role),
                    ("city", &w.city, city),
                    ("state", &w.state, state),
                ] {
                    if !theirs.eq_ignore_ascii_case(asked.trim()) {
                        report.errors.push(Violation::Consistency {
                            reason: format!("candidate {id}'s {what} is {theirs}, not {asked}"),
                        });
                    }
                }
                if !w.name.trim().eq_ignore_ascii_case(fill.name.trim()) {
                    report.warnings.push(format!(
                        "candidate {id} is named {:?} here but {:?} on the roster",
                        fill.name, w.name
                    ));
                }
            }
        }
        if blacklist.is_some_and(|b| b.contains(id)) {
            report.errors.push(Violation::Policy {
                reason: format!("candidate {id} is on client {client}'s blacklist"),
            });
        }
        if !seen.insert(id) {
            report.errors.push(Violation::Consistency {
                reason: format!("candidate {id} is proposed more than once"),
            });
        }
    }
    report.finish()
}

/// Checks an e-mail draft `{subject, body, _context: {candidate_id}}` or an SMS `{body,
/// _context: {candidate_id}}`: its length; no SSN-shaped number (`NNN-NN-NNNN` with no digit
/// or dash right before or after it, so phone numbers never trip it); no `$` amount within
/// [`PAY_WINDOW`] characters of a pay word; the candidate is on the roster and the message
/// addresses them by their first name.
pub fn message(kind: Message, roster: &Roster, artifact: &Value) -> Report {
    let mut f = Fields::default();
    let (mut subject, mut body, mut candidate) = (None, None, None);
    if let Some(root) = f.object(Some(artifact), "$") {
        if kind == Message::Email {
            subject = f.text(root, "subject", "subject");
        }
        body = match root.get("body") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                f.fail("body", "must be a string");
                None
            }
            None => {
                f.fail("body", "is required");
                None
            }
        };
        if let Some(c) = f.object(root.get("_context"), "_context") {
            candidate = f.text(c, "candidate_id", "_context.candidate_id");
        }
    }
    let mut report = Report::default();
    let (Some(body), Some(candidate), true) = (body, candidate, f.errors.is_empty()) else {
        report.errors = f.errors;
        return report.finish();
    };
    let limit = match kind {
        Message::Email => MAX_EMAIL_CHARS,
        Message::Sms => MAX_SMS_CHARS,
    };
    let chars = body.chars().count();
    if body.trim().is_empty() {
        report.errors.push(Violation::Completeness {
            reason: "the message body is empty".into(),
        });
    } else if chars > limit {
        report.errors.push(Violation::Schema {
            field: "body".into(),
            reason: format!("{chars} characters; at most {limit} allowed"),
        });
    }
    let text = match subject {
        Some(s) => format!("{s}\n{body}"),
        None => body.to_string(),
    };
    if has_ssn(&text) {
        report.errors.push(Violation::Policy {
            reason: "the message holds an SSN-shaped number (NNN-NN-NNNN)".into(),
        });
    }
    if let Some(word) = pay_disclosure(&text) {
        report.errors.push(Violation::Policy {
            reason: format!("the message discloses pay: a $ amount near {word:?}"),
        });
    }
    match roster.worker(candidate) {
        None => report.errors.push(Violation::Consistency {
            reason: format!("candidate {candidate} is not on the roster"),
        }),
        Some(w) => {
            let first = first_name(&w.name);
            if !words(&text).any(|word| word.eq_ignore_ascii_case(first)) {
                report.errors.push(Violation::Consistency {
                    reason: format!("the message does not address the candidate ({first})"),
                });
            }
        }
    }
    report.finish()
}

/// The first word of a full name: what a message must address the candidate by.
pub fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

/// The alphanumeric words of `text`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Whether `text` holds `DDD-DD-DDDD` with neither a digit nor a dash right before or after.
pub fn has_ssn(text: &str) -> bool {
    const SHAPE: &[u8] = b"ddd-dd-dddd";
    let b = text.as_bytes();
    let joins = |c: u8| c.is_ascii_digit() || c == b'-';
    (0..b.len().saturating_sub(SHAPE.len() - 1)).any(|start| {
        let run = &b[start..start + SHAPE.len()];
        let shaped = run.iter().zip(SHAPE).all(|(&c, &s)| {
            if s == b'd' {
                c.is_ascii_digit()
            } else {
                c == b'-'
            }
        });
        shaped
            && (start == 0 || !joins(b[start - 1]))
            && b.get(start + SHAPE.len()).is_none_or(|&c| !joins(c))
    })
}

/// The pay word that a `$` amount (a `$` followed by a digit) sits within [`PAY_WINDOW`]
/// characters of, if any; the window counts the characters strictly between the word and
/// the `$`.
pub fn pay_disclosure(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let amounts: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i] == '$' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        .collect();
    if amounts.is_empty() {
        return None;
    }
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_alphanumeric() {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect::<String>().to_lowercase();
        if PAY_WORDS.contains(&word.as_str()) {
            let near = amounts.iter().any(|&a| {
                let between = if a >= i {
                    a - i
                } else {
                    start.saturating_sub(amount_end(&chars, a))
                };
                between <= PAY_WINDOW
            });
            if near {
                return Some(word);
            }
        }
    }
    None
}

/// The index just past the amount starting with `$` at `at`.
fn amount_end(chars: &[char], at: usize) -> usize {
    let mut end = at + 1;
    while end < chars.len()
        && (chars[end].is_ascii_digit() || chars[end] == '.' || chars[end] == ',')
    {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::{Roster, RosterWorker};
    use serde_json::json;

    fn roster() -> Roster {
        let worker = |name: &str, status: &str| RosterWorker {
            name: name.into(),
            role: "Forklift Operator".into(),
            city: "Denver".into(),
            state: "CO".into(),
            status: status.into(),
        };
        let mut r = Roster::default();
        r.workers.insert("w1".into(), worker("Ana Reyes", "active"));
        r.workers
            .insert("w2".into(), worker("Marcus Lee", "active"));
        r.workers
            .insert("w3".into(), worker("Grace King", "inactive"));
        r.workers
            .insert("w4".into(), worker("Luis Ortiz", "active"));
        r.blacklists.insert("c1".into(), ["w4".to_string()].into());
        r
    }

    fn proposal(fills: Value, target: u64) -> Value {
        json!({"fills": fills, "_context": {"target_count": target, "city": "Denver",
            "state": "CO", "role": "Forklift Operator", "client_id": "c1"}})
    }

    fn kinds(r: &Report) -> Vec<&'static str> {
        r.errors.iter().map(Violation::kind).collect()
    }

    #[test]
    fn a_good_fill_passes_and_each_rule_has_its_kind() {
        let r = roster();
        let good = fill(
            &r,
            &proposal(
                json!([{"candidate_id": "w1", "name": "Ana Reyes"},
            {"candidate_id": "w2", "name": "Marcus Lee"}]),
                2,
            ),
        );
        assert!(good.valid && good.warnings.is_empty(), "{good:?}");
        // Too few.
        let short = fill(
            &r,
            &proposal(json!([{"candidate_id": "w1", "name": "Ana Reyes"}]), 2),
        );
        assert_eq!(kinds(&short), ["completeness"]);
        // Not on the roster, not active.
        let unknown = fill(
            &r,
            &proposal(
                json!([{"candidate_id": "w9", "name": "X Y"},
            {"candidate_id": "w3", "name": "Grace King"}]),
                2,
            ),
        );
        assert_eq!(kinds(&unknown), ["consistency", "consistency"]);
        // Blacklisted.
        let banned = fill(
            &r,
            &proposal(json!([{"candidate_id": "w4", "name": "Luis Ortiz"}]), 1),
        );
        assert_eq!(kinds(&banned), ["policy"]);
        // A duplicate candidate.
        let twice = fill(
            &r,
            &proposal(
                json!([{"candidate_id": "w1", "name": "Ana Reyes"},
            {"candidate_id": "w1", "name": "Ana Reyes"}]),
                2,
            ),
        );
        assert_eq!(kinds(&twice), ["consistency"]);
        // Names differing only in case: no warning; another name: a warning only.
        let case = fill(
            &r,
            &proposal(json!([{"candidate_id": "w1", "name": "ANA reyes"}]), 1),
        );
        assert!(case.valid && case.warnings.is_empty(), "{case:?}");
        let renamed = fill(
            &r,
            &proposal(json!([{"candidate_id": "w1", "name": "Anna Reyes"}]), 1),
        );
        assert!(renamed.valid);
        assert_eq!(renamed.warnings.len(), 1);
        // Another city, and an unknown client.
        let mut elsewhere = proposal(json!([{"candidate_id": "w1", "name": "Ana Reyes"}]), 1);
        elsewhere["_context"]["city"] = "Boise".into();
        elsewhere["_context"]["client_id"] = "c404".into();
        let e = fill(&r, &elsewhere);
        assert_eq!(kinds(&e), ["consistency", "consistency"], "{e:?}");
    }

    #[test]
    fn fill_schema_errors_name_their_fields_and_stop_the_checks() {
        let r = roster();
        let bad = fill(
            &r,
            &json!({"fills": [{"candidate_id": 7}], "_context": {"city": "Denver"}}),
        );
        assert!(!bad.valid);
        let fields: Vec<String> = bad
            .errors
            .iter()
            .map(|e| match e {
                Violation::Schema { field, .. } => field.clone(),
                other => panic!("only schema errors expected, got {other:?}"),
            })
            .collect();
        for f in [
            "fills[0].candidate_id",
            "fills[0].name",
            "_context.target_count",
            "_context.state",
            "_context.role",
            "_context.client_id",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
        }
        assert_eq!(kinds(&fill(&r, &json!([1, 2]))), ["schema"]);
        assert_eq!(
            kinds(&fill(&r, &json!({"fills": {}, "_context": {}}))).first(),
            Some(&"schema")
        );
    }

    fn sms(body: &str) -> Value {
        json!({"body": body, "_context": {"candidate_id": "w1"}})
    }

    #[test]
    fn ssn_shapes_are_caught_and_longer_numbers_are_not() {
        assert!(has_ssn("ref 123-45-6789."));
        assert!(has_ssn("123-45-6789"));
        assert!(has_ssn("(123-45-6789)"));
        // A digit or dash right before or after: part of a longer number.
        for text in [
            "1123-45-6789",
            "123-45-67890",
            "-123-45-6789",
            "123-45-6789-1",
            "call 1-312-55-5014",
            "312-555-0143",
            "+1 (312) 555-0143",
            "ID 9123-45-6789x",
        ] {
            assert!(!has_ssn(text), "{text}");
        }
        let r = roster();
        assert!(
            message(
                Message::Sms,
                &r,
                &sms("Hi Ana, call 312-555-0143 or 1-800-555-0199")
            )
            .valid
        );
        assert_eq!(
            kinds(&message(
                Message::Sms,
                &r,
                &sms("Hi Ana, your SSN 123-45-6789 is on file")
            )),
            ["policy"]
        );
    }

    #[test]
    fn pay_amounts_count_within_forty_characters_of_a_pay_word() {
        let gap = |n: usize| format!("The pay{}$20 an hour", " ".repeat(n));
        assert_eq!(pay_disclosure(&gap(39)).as_deref(), Some("pay"));
        assert_eq!(pay_disclosure(&gap(40)).as_deref(), Some("pay"));
        assert_eq!(pay_disclosure(&gap(41)), None);
        // Before the word, measured from the amount's end.
        let before = |n: usize| format!("$1,250.00{}bonus", " ".repeat(n));
        assert!(pay_disclosure(&before(39)).is_some());
        assert!(pay_disclosure(&before(41)).is_none());
        // Whole words only; a $ without a digit is no amount.
        assert_eq!(pay_disclosure("Our payroll team: $20 parking"), None);
        assert_eq!(pay_disclosure("Pay in $ soon"), None);
        assert_eq!(pay_disclosure("HOURLY: $18"), Some("hourly".into()));
    }

    #[test]
    fn messages_check_length_name_and_schema() {
        let r = roster();
        let ok = message(
            Message::Email,
            &r,
            &json!({"subject": "Shift in Denver",
            "body": "Hi Ana, a forklift shift is open.", "_context": {"candidate_id": "w1"}}),
        );
        assert!(ok.valid, "{ok:?}");
        let long = format!("Hi Ana {}", "x".repeat(154));
        assert_eq!(long.chars().count(), 161);
        assert_eq!(kinds(&message(Message::Sms, &r, &sms(&long))), ["schema"]);
        assert!(message(Message::Sms, &r, &sms(&long[..160])).valid);
        // The same text is a fine e-mail body.
        let email = json!({"subject": "s", "body": long, "_context": {"candidate_id": "w1"}});
        assert!(message(Message::Email, &r, &email).valid);
        assert_eq!(
            kinds(&message(Message::Sms, &r, &sms("  "))),
            ["completeness", "consistency"]
        );
        assert_eq!(
            kinds(&message(Message::Sms, &r, &sms("Hi Marcus"))),
            ["consistency"]
        );
        assert_eq!(
            kinds(&message(Message::Sms, &r, &sms("hi ANA"))),
            Vec::<&str>::new()
        );
        let unknown = json!({"body": "Hi Ana", "_context": {"candidate_id": "w77"}});
        assert_eq!(kinds(&message(Message::Sms, &r, &unknown)), ["consistency"]);
        // An e-mail needs a subject; a body must be a string.
        let no_subject = message(Message::Email, &r, &sms("Hi Ana"));
        assert_eq!(
            no_subject.errors,
            [Violation::Schema {
                field: "subject".into(),
                reason: "is required".into()
            }]
        );
        assert_eq!(
            kinds(&message(
                Message::Sms,
                &r,
                &json!({"body": 5, "_context": {"candidate_id": "w1"}})
            )),
            ["schema"]
        );
        assert_eq!(
            kinds(&message(Message::Sms, &r, &json!({"body": "Hi Ana"}))),
            ["schema"]
        );
    }
}
