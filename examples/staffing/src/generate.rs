//! Deterministic generators: worker profiles, clients with blacklists, recruiter queries.
//!
//! Worker `i` (ids `w1`, `w2`, …) is a pure function of `i`: the same on every machine and
//! run, so the load test can know a worker's role, city and status without asking the
//! server. Roles come with their own skills and certifications; resumes are free text from
//! several templates of varied length.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

/// A small, stable pseudo-random sequence (SplitMix64): generated data must not change when
/// a dependency's generator does.
#[derive(Debug, Clone)]
pub struct Mix(u64);

impl Mix {
    /// The sequence for `seed` (and a stream number, so that two uses of one seed differ).
    pub fn new(seed: u64, stream: u64) -> Self {
        Mix(seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(stream.wrapping_mul(0xD1B5_4A32_D192_ED03)))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A uniform number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `n` distinct elements of `items` (all of them when `n` ≥ its length), in random order.
    pub fn sample<'a, T>(&mut self, items: &'a [T], n: usize) -> Vec<&'a T> {
        let mut order: Vec<usize> = (0..items.len()).collect();
        let n = n.min(items.len());
        for i in 0..n {
            let j = i + self.below(items.len() - i);
            order.swap(i, j);
        }
        order[..n].iter().map(|&i| &items[i]).collect()
    }
}

/// A role, with the skills and certifications its workers list.
#[derive(Debug)]
pub struct Role {
    /// The title.
    pub title: &'static str,
    /// Skills of the trade.
    pub skills: &'static [&'static str],
    /// Certifications of the trade.
    pub certifications: &'static [&'static str],
}

macro_rules! roles {
    ($($title:literal: [$($skill:literal),+] [$($cert:literal),+];)+) => {
        /// Every role (48).
        pub const ROLES: &[Role] = &[$(Role {
            title: $title,
            skills: &[$($skill),+],
            certifications: &[$($cert),+],
        }),+];
    };
}

roles! {
    "Forklift Operator": ["sit-down forklift", "reach truck", "pallet jack", "inventory scanning", "load securing"] ["OSHA 10", "Forklift Certification", "Reach Truck Certification"];
    "Warehouse Associate": ["picking and packing", "RF scanning", "shipping and receiving", "inventory counts", "shrink wrapping"] ["OSHA 10", "Forklift Certification"];
    "Order Picker": ["order picking", "RF scanning", "cherry picker", "pick-to-light", "cycle counts"] ["Order Picker Certification", "OSHA 10"];
    "Shipping Clerk": ["bills of lading", "carrier scheduling", "label printing", "freight audits", "WMS software"] ["Hazmat Shipping", "OSHA 10"];
    "Receiving Clerk": ["inbound inspection", "PO reconciliation", "RF scanning", "putaway", "damage claims"] ["OSHA 10", "Forklift Certification"];
    "Inventory Specialist": ["cycle counts", "variance research", "Excel", "SAP inventory", "bin audits"] ["APICS CPIM", "OSHA 10"];
    "Material Handler": ["material staging", "kitting", "pallet jack", "line feeding", "5S"] ["OSHA 10", "Forklift Certification"];
    "Machine Operator": ["CNC setup", "blueprint reading", "calipers and micrometers", "press operation", "quality checks"] ["OSHA 10", "NIMS Machining Level I"];
    "CNC Machinist": ["G-code", "Fanuc controls", "5-axis milling", "lathe setup", "GD&T"] ["NIMS CNC Milling", "OSHA 10"];
    "Assembler": ["hand tools", "torque tools", "soldering", "work instructions", "visual inspection"] ["IPC-A-610", "OSHA 10"];
    "Production Line Worker": ["line work", "packaging", "quality checks", "lean manufacturing", "machine tending"] ["OSHA 10", "Food Handler"];
    "Quality Inspector": ["first article inspection", "CMM", "SPC charts", "calipers", "nonconformance reports"] ["ASQ CQI", "OSHA 10"];
    "Welder": ["MIG welding", "TIG welding", "stick welding", "blueprint reading", "grinding"] ["AWS D1.1", "OSHA 10"];
    "Maintenance Technician": ["PLC troubleshooting", "hydraulics", "pneumatics", "preventive maintenance", "electrical schematics"] ["EPA 608", "OSHA 30", "NFPA 70E"];
    "Industrial Electrician": ["conduit bending", "motor controls", "PLC wiring", "480V three-phase", "troubleshooting"] ["Journeyman Electrician License", "NFPA 70E", "OSHA 30"];
    "HVAC Technician": ["refrigeration", "ductwork", "heat pumps", "controls", "load calculations"] ["EPA 608", "NATE Certification", "OSHA 10"];
    "Plumber": ["pipe fitting", "PEX and copper", "drain cleaning", "water heaters", "backflow testing"] ["Journeyman Plumber License", "Backflow Tester", "OSHA 10"];
    "Carpenter": ["framing", "finish carpentry", "drywall", "blueprint reading", "power tools"] ["OSHA 30", "Scaffold Competent Person"];
    "General Laborer": ["site cleanup", "material handling", "demolition", "power tools", "traffic control"] ["OSHA 10", "Flagger Certification"];
    "Construction Helper": ["concrete work", "scaffolding", "material staging", "hand tools", "site safety"] ["OSHA 10", "Scaffold User"];
    "Heavy Equipment Operator": ["excavator", "skid steer", "front loader", "grading", "trenching"] ["NCCCO", "OSHA 30"];
    "CDL-A Driver": ["tractor-trailer", "pre-trip inspection", "ELD logs", "reefer loads", "backing"] ["CDL Class A", "Hazmat Endorsement", "TWIC Card"];
    "Delivery Driver": ["route planning", "box truck", "customer signatures", "liftgate", "handheld scanners"] ["CDL Class B", "DOT Medical Card"];
    "Dispatcher": ["load planning", "TMS software", "driver communication", "route optimization", "ELD monitoring"] ["Certified Dispatcher", "OSHA 10"];
    "Janitor": ["floor care", "restroom sanitation", "trash removal", "chemical dilution", "carpet extraction"] ["CIMS Green Building", "Bloodborne Pathogens"];
    "Housekeeper": ["room turnover", "linen handling", "guest service", "deep cleaning", "inventory of supplies"] ["Bloodborne Pathogens", "Guest Service Gold"];
    "Line Cook": ["grill station", "saute", "prep work", "food safety", "ticket times"] ["ServSafe Food Handler", "Allergen Awareness"];
    "Prep Cook": ["knife skills", "batch prep", "labeling and dating", "inventory rotation", "recipe scaling"] ["ServSafe Food Handler", "Allergen Awareness"];
    "Dishwasher": ["dish machine", "pot washing", "sanitation", "kitchen cleanup", "chemical safety"] ["ServSafe Food Handler", "Food Handler"];
    "Server": ["table service", "POS systems", "menu knowledge", "upselling", "wine service"] ["TIPS Alcohol Certification", "ServSafe Food Handler"];
    "Bartender": ["mixology", "cash handling", "inventory", "POS systems", "customer service"] ["TIPS Alcohol Certification", "ServSafe Alcohol"];
    "Banquet Server": ["banquet setup", "plated service", "buffet service", "event teardown", "tray carrying"] ["TIPS Alcohol Certification", "Food Handler"];
    "Event Staff": ["crowd management", "ticket scanning", "setup and teardown", "guest directions", "radio etiquette"] ["CPR/First Aid", "Crowd Manager"];
    "Security Officer": ["access control", "patrol", "incident reports", "CCTV monitoring", "de-escalation"] ["Guard Card", "CPR/First Aid"];
    "Front Desk Agent": ["check-in and check-out", "Opera PMS", "phone etiquette", "cash handling", "guest complaints"] ["Guest Service Gold", "CPR/First Aid"];
    "Customer Service Representative": ["call handling", "CRM software", "de-escalation", "order entry", "typing 50 wpm"] ["HDI Customer Service", "CPR/First Aid"];
    "Call Center Agent": ["inbound calls", "outbound campaigns", "Zendesk", "scripting", "typing 45 wpm"] ["HDI Support Center Analyst", "Bilingual Certification"];
    "Administrative Assistant": ["calendar management", "Microsoft Office", "data entry", "filing", "travel booking"] ["Microsoft Office Specialist", "CAP"];
    "Data Entry Clerk": ["10-key", "typing 60 wpm", "Excel", "document scanning", "data verification"] ["Microsoft Office Specialist", "10-Key Certification"];
    "Receptionist": ["multi-line phones", "visitor badges", "scheduling", "mail handling", "greeting guests"] ["Microsoft Office Specialist", "CPR/First Aid"];
    "Bookkeeper": ["accounts payable", "QuickBooks", "bank reconciliation", "payroll entry", "month-end close"] ["Certified Bookkeeper", "QuickBooks ProAdvisor"];
    "Payroll Clerk": ["ADP Workforce Now", "timecard audits", "garnishments", "payroll taxes", "Excel"] ["Fundamental Payroll Certification", "Microsoft Office Specialist"];
    "Certified Nursing Assistant": ["patient care", "vital signs", "ADLs", "charting", "patient transfers"] ["CNA License", "BLS", "CPR/First Aid"];
    "Medical Assistant": ["phlebotomy", "EHR charting", "vital signs", "patient intake", "injections"] ["CMA", "BLS", "Phlebotomy Technician"];
    "Home Health Aide": ["personal care", "meal preparation", "medication reminders", "companionship", "light housekeeping"] ["HHA Certification", "CPR/First Aid"];
    "Pharmacy Technician": ["prescription filling", "inventory", "insurance billing", "compounding", "pharmacy software"] ["CPhT", "BLS"];
    "Retail Associate": ["merchandising", "cash register", "customer service", "stocking", "inventory counts"] ["Retail Industry Fundamentals", "CPR/First Aid"];
    "Cashier": ["cash handling", "POS systems", "returns", "customer service", "opening and closing"] ["Retail Industry Fundamentals", "Food Handler"];
}

/// City and state pairs (60).
pub const PLACES: &[(&str, &str)] = &[
    ("Chicago", "IL"),
    ("Springfield", "IL"),
    ("Rockford", "IL"),
    ("Joliet", "IL"),
    ("Indianapolis", "IN"),
    ("Fort Wayne", "IN"),
    ("Milwaukee", "WI"),
    ("Madison", "WI"),
    ("Detroit", "MI"),
    ("Grand Rapids", "MI"),
    ("Columbus", "OH"),
    ("Cleveland", "OH"),
    ("Cincinnati", "OH"),
    ("Toledo", "OH"),
    ("St. Louis", "MO"),
    ("Kansas City", "MO"),
    ("Minneapolis", "MN"),
    ("St. Paul", "MN"),
    ("Des Moines", "IA"),
    ("Omaha", "NE"),
    ("Denver", "CO"),
    ("Colorado Springs", "CO"),
    ("Phoenix", "AZ"),
    ("Tucson", "AZ"),
    ("Las Vegas", "NV"),
    ("Reno", "NV"),
    ("Salt Lake City", "UT"),
    ("Boise", "ID"),
    ("Seattle", "WA"),
    ("Spokane", "WA"),
    ("Portland", "OR"),
    ("Sacramento", "CA"),
    ("Fresno", "CA"),
    ("Los Angeles", "CA"),
    ("San Diego", "CA"),
    ("Dallas", "TX"),
    ("Houston", "TX"),
    ("Austin", "TX"),
    ("San Antonio", "TX"),
    ("El Paso", "TX"),
    ("Oklahoma City", "OK"),
    ("Tulsa", "OK"),
    ("Memphis", "TN"),
    ("Nashville", "TN"),
    ("Louisville", "KY"),
    ("Atlanta", "GA"),
    ("Savannah", "GA"),
    ("Charlotte", "NC"),
    ("Raleigh", "NC"),
    ("Columbia", "SC"),
    ("Jacksonville", "FL"),
    ("Orlando", "FL"),
    ("Tampa", "FL"),
    ("Miami", "FL"),
    ("Birmingham", "AL"),
    ("New Orleans", "LA"),
    ("Richmond", "VA"),
    ("Baltimore", "MD"),
    ("Philadelphia", "PA"),
    ("Pittsburgh", "PA"),
];

const FIRST: &[&str] = &[
    "James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer", "Carlos",
    "Aisha", "Daniel", "Nguyen", "Jose", "Emily", "Anthony", "Sofia", "Kevin", "Fatima", "Brian",
    "Grace", "Marcus", "Keisha", "Luis", "Hannah", "Tyrone", "Mei", "Andre", "Olivia", "Dmitri",
    "Priya", "Samuel", "Rosa", "Terrell", "Ana", "Jamal", "Chloe", "Victor", "Ines", "Malik",
    "Yolanda",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Garcia",
    "Williams",
    "Brown",
    "Martinez",
    "Davis",
    "Rodriguez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Hernandez",
    "Moore",
    "Jackson",
    "Lee",
    "Tran",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Okafor",
    "Kowalski",
    "Nakamura",
    "Patel",
    "Haddad",
    "Novak",
    "Reyes",
    "Bennett",
    "Foster",
    "Ortiz",
];

/// Worker archetypes: how a worker tends to work (the reference's seed data has these).
pub const ARCHETYPES: &[&str] = &[
    "reliable_veteran",
    "rising_talent",
    "flex_floater",
    "weekend_warrior",
    "specialist",
    "returning_worker",
];

/// Worker statuses, with how often each occurs (per 100).
pub const STATUSES: &[(&str, usize)] = &[
    ("active", 75),
    ("placed", 12),
    ("inactive", 9),
    ("do_not_rehire", 4),
];

const EMPLOYERS: &[&str] = &[
    "a regional distribution center",
    "Midwest Cold Storage",
    "a third-party logistics firm",
    "an automotive parts plant",
    "a hospital system",
    "a downtown hotel",
    "a food processing plant",
    "a national retailer",
    "a general contractor",
    "an e-commerce fulfillment center",
    "a family-owned restaurant",
    "a county school district",
    "a beverage bottler",
    "a home care agency",
    "a convention center",
];
const SHIFTS: &[&str] = &[
    "first shift",
    "second shift",
    "overnights",
    "weekends",
    "rotating shifts",
    "any shift",
];
const TRAITS: &[&str] = &[
    "Known for showing up early and staying late.",
    "Trains new hires and keeps the area organized.",
    "Bilingual in English and Spanish.",
    "Has a clean safety record with zero incidents.",
    "Comfortable lifting 50 pounds all shift.",
    "Prefers fast-paced environments with clear targets.",
    "Reliable transportation and lives close to the industrial park.",
    "Took time off for family and is ready to return full time.",
    "Looking for a temp-to-hire opportunity.",
    "Received an attendance award at the last assignment.",
    "Good with computers and handheld devices.",
    "Calm under pressure during peak season.",
];

/// One worker profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    /// `w<i>`.
    pub id: String,
    /// First and last name.
    pub name: String,
    /// Role title (one of [`ROLES`]).
    pub role: String,
    /// City (one of [`PLACES`]).
    pub city: String,
    /// Two-letter state.
    pub state: String,
    /// Skills, comma-separated.
    pub skills: String,
    /// Certifications, comma-separated.
    pub certifications: String,
    /// Free-text resume.
    pub resume_text: String,
    /// One of [`ARCHETYPES`].
    pub archetype: String,
    /// One of [`STATUSES`].
    pub status: String,
    /// A phone number, as text (`312-555-0143`).
    pub phone: String,
}

/// The id of worker `i`.
pub fn worker_id(i: u64) -> String {
    format!("w{i}")
}

/// Worker `i` (1-based), the same on every run.
pub fn worker(i: u64) -> Worker {
    let mut r = Mix::new(i, 1);
    let role = r.pick(ROLES);
    let (city, state) = *r.pick(PLACES);
    let name = format!("{} {}", r.pick(FIRST), r.pick(LAST));
    let n_skills = 2 + r.below(3);
    let skills: Vec<&str> = r
        .sample(role.skills, n_skills)
        .into_iter()
        .copied()
        .collect();
    let n_certs = 1 + r.below(2);
    let certifications: Vec<&str> = r
        .sample(role.certifications, n_certs)
        .into_iter()
        .copied()
        .collect();
    let mut roll = r.below(100);
    let mut status = STATUSES[0].0;
    for (s, weight) in STATUSES {
        if roll < *weight {
            status = s;
            break;
        }
        roll -= weight;
    }
    let archetype = *r.pick(ARCHETYPES);
    let phone = format!("{}-555-{:04}", 200 + r.below(780), r.below(10_000));
    let resume_text = resume(&mut r, role, city, &skills);
    Worker {
        id: worker_id(i),
        name,
        role: role.title.to_string(),
        city: city.to_string(),
        state: state.to_string(),
        skills: skills.join(", "),
        certifications: certifications.join(", "),
        resume_text,
        archetype: archetype.to_string(),
        status: status.to_string(),
        phone,
    }
}

/// A resume of one to five sentences, from one of four templates.
fn resume(r: &mut Mix, role: &Role, city: &str, skills: &[&str]) -> String {
    let years = 1 + r.below(19);
    let employer = r.pick(EMPLOYERS);
    let shift = r.pick(SHIFTS);
    let skill = skills.first().copied().unwrap_or("general duties");
    let title = role.title.to_lowercase();
    let mut text = match r.below(4) {
        0 => format!("{years} years as a {title} at {employer}."),
        1 => format!(
            "Worked {years} years in and around {city}, most recently at {employer}, mainly on {skill}."
        ),
        2 => format!("Experienced {title}; strongest at {skill}. Available for {shift}."),
        _ => format!(
            "Started in general labor and moved into {title} work {years} years ago. Open to {shift} near {city}."
        ),
    };
    let n_traits = r.below(4);
    for t in r.sample(TRAITS, n_traits) {
        text.push(' ');
        text.push_str(t);
    }
    text
}

/// One client company, with the workers it will not take back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `c<i>`.
    pub id: String,
    /// Company name.
    pub name: String,
    /// City.
    pub city: String,
    /// Two-letter state.
    pub state: String,
    /// Worker ids on its blacklist.
    pub blacklist: Vec<String>,
}

const COMPANY: &[&str] = &[
    "Acme",
    "Summit",
    "Keystone",
    "Harbor",
    "Prairie",
    "Ironwood",
    "Bluewater",
    "Redline",
    "Granite",
    "Northstar",
    "Lakeside",
    "Pioneer",
];
const KIND: &[&str] = &[
    "Logistics",
    "Manufacturing",
    "Foods",
    "Health",
    "Hospitality",
    "Builders",
    "Freight",
    "Retail Group",
];

/// The id of client `i`.
pub fn client_id(i: u64) -> String {
    format!("c{i}")
}

/// Client `i` (1-based) of a corpus of `workers` workers: its blacklist holds 0 to 5 of
/// them.
pub fn client(i: u64, workers: u64) -> Client {
    let mut r = Mix::new(i, 2);
    let (city, state) = *r.pick(PLACES);
    let name = format!("{} {} #{i}", r.pick(COMPANY), r.pick(KIND));
    let blacklist = (0..r.below(6))
        .map(|_| worker_id(1 + r.next_u64() % workers.max(1)))
        .collect();
    Client {
        id: client_id(i),
        name,
        city: city.to_string(),
        state: state.to_string(),
        blacklist,
    }
}

/// How many clients a corpus of `workers` workers has: one per 200 workers, at least 20.
pub fn client_count(workers: u64) -> u64 {
    (workers / 200).max(20)
}

/// Recruiter query `i`: five styles (a request, keywords, a question, a requirement list, a
/// requisition), over every role, place, skill and certification. Queries `0..1000` are the
/// load test's pool.
pub fn query(i: u64) -> String {
    let mut r = Mix::new(i, 3);
    let role = r.pick(ROLES);
    let (city, state) = *r.pick(PLACES);
    let skill = r.pick(role.skills);
    let cert = r.pick(role.certifications);
    let title = role.title.to_lowercase();
    match i % 5 {
        0 => format!("Need a {title} in {city}, {state} with {cert}"),
        1 => format!("{title} {city} {state} {skill}"),
        2 => format!("Who can do {skill} as a {title} near {city} this week?"),
        3 => format!(
            "{city}, {state}: {} {title}s, {cert} required, {skill} a plus",
            2 + r.below(4)
        ),
        _ => format!("REQ-{i}: {title} for {city}, {state}; must know {skill}"),
    }
}

/// Query `i` made a text never seen before (a requisition number appended): the load
/// test's `--unique-queries`.
pub fn unique_query(i: u64) -> String {
    format!("{} (req {i})", query(i))
}

/// A query for a fill of `role` in `city`, `state`, numbered `i` (every `i` a new text).
pub fn fill_query(role: &str, city: &str, state: &str, i: u64) -> String {
    format!("REQ-{i}: {} for {city}, {state}", role.to_lowercase())
}

fn column(values: impl Iterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// Workers `range` as one Arrow batch (every column text, as the reference's CSV).
pub fn workers_batch(range: std::ops::Range<u64>) -> RecordBatch {
    let workers: Vec<Worker> = range.map(worker).collect();
    let field = |name| Field::new(name, DataType::Utf8, false);
    let schema = Arc::new(Schema::new(
        [
            "id",
            "name",
            "role",
            "city",
            "state",
            "skills",
            "certifications",
            "resume_text",
            "archetype",
            "status",
            "phone",
        ]
        .map(field)
        .to_vec(),
    ));
    let get: [fn(&Worker) -> &String; 11] = [
        |w| &w.id,
        |w| &w.name,
        |w| &w.role,
        |w| &w.city,
        |w| &w.state,
        |w| &w.skills,
        |w| &w.certifications,
        |w| &w.resume_text,
        |w| &w.archetype,
        |w| &w.status,
        |w| &w.phone,
    ];
    let columns = get
        .iter()
        .map(|f| column(workers.iter().map(|w| f(w).clone())))
        .collect();
    RecordBatch::try_new(schema, columns).expect("columns match the schema")
}

/// Clients `1..=count` of a corpus of `workers` workers as one Arrow batch; the blacklist is
/// one text of worker ids joined by `;`.
pub fn clients_batch(count: u64, workers: u64) -> RecordBatch {
    let clients: Vec<Client> = (1..=count).map(|i| client(i, workers)).collect();
    let field = |name| Field::new(name, DataType::Utf8, false);
    let schema = Arc::new(Schema::new(
        ["id", "name", "city", "state", "blacklist"]
            .map(field)
            .to_vec(),
    ));
    let columns = vec![
        column(clients.iter().map(|c| c.id.clone())),
        column(clients.iter().map(|c| c.name.clone())),
        column(clients.iter().map(|c| c.city.clone())),
        column(clients.iter().map(|c| c.state.clone())),
        column(clients.iter().map(|c| c.blacklist.join(";"))),
    ];
    RecordBatch::try_new(schema, columns).expect("columns match the schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generation_is_deterministic_and_covers_the_reference_fields() {
        assert_eq!(worker(42), worker(42));
        assert_ne!(worker(42), worker(43));
        assert_eq!(client(7, 1000), client(7, 1000));
        assert_eq!(query(5), query(5));
        assert!(ROLES.len() >= 40 && PLACES.len() >= 50);
        let unique_places: HashSet<_> = PLACES.iter().collect();
        assert_eq!(unique_places.len(), PLACES.len());
        let workers: Vec<Worker> = (1..=2000).map(worker).collect();
        let roles: HashSet<_> = workers.iter().map(|w| &w.role).collect();
        let places: HashSet<_> = workers.iter().map(|w| (&w.city, &w.state)).collect();
        let statuses: HashSet<_> = workers.iter().map(|w| w.status.as_str()).collect();
        assert_eq!(roles.len(), ROLES.len());
        assert_eq!(places.len(), PLACES.len());
        assert_eq!(statuses.len(), STATUSES.len());
        for w in &workers {
            let role = ROLES.iter().find(|r| r.title == w.role).unwrap();
            for s in w.skills.split(", ") {
                assert!(role.skills.contains(&s), "{s} is not a skill of {}", w.role);
            }
            for c in w.certifications.split(", ") {
                assert!(role.certifications.contains(&c));
            }
            assert!(!w.resume_text.is_empty() && !w.name.is_empty());
            assert_eq!(w.phone.len(), 12, "{}", w.phone);
        }
        let active = workers.iter().filter(|w| w.status == "active").count();
        assert!((1300..1700).contains(&active), "{active} active of 2000");
        let lengths: HashSet<usize> = workers.iter().map(|w| w.resume_text.len() / 40).collect();
        assert!(lengths.len() >= 4, "resumes of varied length");
        let pool: HashSet<String> = (0..1000).map(query).collect();
        assert!(
            pool.len() >= 990,
            "{} distinct queries in the pool",
            pool.len()
        );
        let unique: HashSet<String> = (0..10_000).map(unique_query).collect();
        assert_eq!(unique.len(), 10_000, "every unique query is a new text");
    }

    #[test]
    fn batches_hold_the_generated_rows() {
        let b = workers_batch(1..11);
        assert_eq!((b.num_rows(), b.num_columns()), (10, 11));
        let ids = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(ids.value(0), "w1");
        let c = clients_batch(20, 100);
        assert_eq!(c.num_rows(), 20);
        let blacklists = c.column(4).as_any().downcast_ref::<StringArray>().unwrap();
        let listed: usize = (0..20)
            .map(|i| {
                blacklists
                    .value(i)
                    .split(';')
                    .filter(|s| !s.is_empty())
                    .count()
            })
            .sum();
        assert!(listed > 0);
    }
}
