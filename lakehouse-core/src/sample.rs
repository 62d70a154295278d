//! Deterministic sample data (staffing worker rosters) for demos, examples, tests and
//! benchmarks, so that every one of them measures and shows the same shape of data.

use std::fmt::Write as _;

const ROLES: [&str; 8] = [
    "Forklift Operator",
    "Warehouse Associate",
    "CNC Machinist",
    "Welder",
    "Picker Packer",
    "Shift Supervisor",
    "Maintenance Technician",
    "Quality Inspector",
];
const CITIES: [(&str, &str); 8] = [
    ("Chicago", "IL"),
    ("Joliet", "IL"),
    ("Aurora", "IL"),
    ("Gary", "IN"),
    ("Milwaukee", "WI"),
    ("Detroit", "MI"),
    ("Columbus", "OH"),
    ("Indianapolis", "IN"),
];
const FIRST: [&str; 10] = [
    "Alice", "Bob", "Carmen", "Deshawn", "Elena", "Farid", "Grace", "Hiro", "Imani", "Jorge",
];
const LAST: [&str; 8] = [
    "Nguyen", "Okafor", "Smith", "Garcia", "Kowalski", "Patel", "Johnson", "Haddad",
];

/// Header of [`workers_csv`].
pub const WORKERS_HEADER: &str = "id,name,role,city,state,years,hourly_rate,status";

/// A worker roster as CSV with ids `ids` (header included), the same for the same range.
///
/// ```
/// let csv = lakehouse_core::sample::workers_csv(1..3);
/// assert_eq!(csv.lines().count(), 3);
/// assert!(csv.starts_with(lakehouse_core::sample::WORKERS_HEADER));
/// ```
pub fn workers_csv(ids: std::ops::Range<u64>) -> String {
    let mut s = String::with_capacity(64 * (ids.end - ids.start) as usize + 64);
    s.push_str(WORKERS_HEADER);
    s.push('\n');
    for i in ids {
        let k = i as usize;
        let (city, state) = CITIES[(k * 7 + k / 11) % CITIES.len()];
        let status = if k % 9 == 0 { "inactive" } else { "active" };
        writeln!(
            s,
            "{i},{} {},{},{city},{state},{},{:.2},{status}",
            FIRST[k % FIRST.len()],
            LAST[(k / 3) % LAST.len()],
            ROLES[(k * 5 + k / 13) % ROLES.len()],
            k % 15,
            17.0 + (k % 23) as f64 * 0.75
        )
        .expect("writing to a String cannot fail");
    }
    s
}
