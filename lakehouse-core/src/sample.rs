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
        let status = if k.is_multiple_of(9) {
            "inactive"
        } else {
            "active"
        };
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

const SKILLS: [&str; 24] = [
    "sit-down forklift",
    "reach truck",
    "order picker",
    "RF scanning",
    "inventory cycle counts",
    "MIG welding",
    "TIG welding",
    "blueprint reading",
    "CNC lathe setup",
    "G-code editing",
    "preventive maintenance",
    "PLC troubleshooting",
    "hydraulics",
    "shipping and receiving",
    "pallet jack",
    "quality audits",
    "calipers and micrometers",
    "team leadership",
    "Lean and 5S",
    "hazmat handling",
    "packing to spec",
    "loading docks",
    "conveyor systems",
    "SAP inventory",
];
const CERTS: [&str; 10] = [
    "OSHA-10",
    "OSHA-30",
    "forklift certified",
    "AWS D1.1 welding",
    "CPR and first aid",
    "HAZWOPER",
    "Six Sigma Yellow Belt",
    "NIMS machining",
    "EPA 608",
    "ServSafe",
];
const SHIFTS: [&str; 6] = [
    "first shift",
    "second shift",
    "night shift",
    "weekends only",
    "rotating 12-hour shifts",
    "any shift, overtime welcome",
];
const EXTRAS: [&str; 8] = [
    "speaks Spanish and English",
    "has own transportation",
    "can lift 50 lbs",
    "bilingual Polish and English",
    "open to temp-to-hire",
    "prefers short commutes",
    "reliable attendance record",
    "willing to relocate",
];

/// Header of [`profiles_csv`]: [`WORKERS_HEADER`] plus a free-text `profile`.
pub const PROFILES_HEADER: &str = "id,name,role,city,state,years,hourly_rate,status,profile";

/// A worker's free-text profile (about 60 tokens), as a recruiter would write it; varied
/// enough that semantic search over many of them is a real retrieval task.
///
/// ```
/// let p = lakehouse_core::sample::profile(42);
/// assert!(p.len() > 150 && p == lakehouse_core::sample::profile(42));
/// ```
pub fn profile(i: u64) -> String {
    let k = i as usize;
    // A cheap integer hash so neighbouring ids differ in every field.
    let h = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) as usize;
    let (city, state) = CITIES[(k * 7 + k / 11) % CITIES.len()];
    let role = ROLES[(k * 5 + k / 13) % ROLES.len()];
    let s1 = SKILLS[h % SKILLS.len()];
    let s2 = SKILLS[(h / 24 + 5) % SKILLS.len()];
    let s3 = SKILLS[(h / 576 + 11) % SKILLS.len()];
    format!(
        "{role} in {city}, {state} with {} years of experience. Skilled in {s1}, {s2} and {s3}; \
         {}. Available for {}, {} and {}. Last rated {}/5 by a supervisor.",
        k % 15,
        CERTS[(h / 7) % CERTS.len()],
        SHIFTS[(h / 13) % SHIFTS.len()],
        EXTRAS[(h / 17) % EXTRAS.len()],
        EXTRAS[(h / 131 + 3) % EXTRAS.len()],
        3 + h % 3,
    )
}

/// [`workers_csv`] with each worker's [`profile`] as a last column.
pub fn profiles_csv(ids: std::ops::Range<u64>) -> String {
    let roster = workers_csv(ids.clone());
    let mut s = String::with_capacity(roster.len() * 4);
    let mut lines = roster.lines();
    s.push_str(PROFILES_HEADER);
    s.push('\n');
    lines.next();
    for (line, i) in lines.zip(ids) {
        writeln!(s, "{line},\"{}\"", profile(i)).expect("writing to a String cannot fail");
    }
    s
}
