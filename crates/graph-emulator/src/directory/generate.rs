//! The deterministic tenant generator: `users` realistic people and a few (nested) groups
//! from a seed. Same seed, same tenant, byte for byte.
//!
//! Distribution (approximate): 3% guests (`first.last{n}_fabrikam.com#EXT#@{domain}`),
//! 4% disabled accounts, mail = UPN for 95% of members, one business phone for 80% and a
//! mobile for 60%, written in the national or international style of the user's country
//! (US, GB, DE, FR, CA, NL, AU, CH).

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng as _};
use uuid::Uuid;

use super::names::{GIVEN_NAMES, SURNAMES};
use super::packed::{Packed, Slot};
use super::props::{LIST_SEPARATOR, slot};
use super::{Directory, Group, Member};

/// What to generate.
#[derive(Debug, Clone)]
pub struct TenantSeed<'a> {
    pub users: usize,
    pub seed: u64,
    pub domain: &'a str,
    pub company: &'a str,
}

/// `createdDateTime` of generated users falls in 2019-01-01 … 2023-12-31.
const CREATED_FROM: i64 = 1_546_300_800;
const CREATED_SPAN: i64 = 5 * 365 * 86_400;

struct Department {
    name: &'static str,
    weight: u32,
    titles: &'static [&'static str],
}

static DEPARTMENTS: &[Department] = &[
    Department {
        name: "Sales",
        weight: 20,
        titles: &[
            "Account Executive",
            "Sales Representative",
            "Inside Sales Representative",
            "Sales Manager",
            "Key Account Manager",
            "Director of Sales",
        ],
    },
    Department {
        name: "Support",
        weight: 15,
        titles: &[
            "Support Engineer",
            "Customer Support Agent",
            "Technical Support Specialist",
            "Support Team Lead",
            "Head of Customer Support",
        ],
    },
    Department {
        name: "Engineering",
        weight: 25,
        titles: &[
            "Software Engineer",
            "Senior Software Engineer",
            "Principal Engineer",
            "QA Engineer",
            "DevOps Engineer",
            "Engineering Manager",
            "VP of Engineering",
        ],
    },
    Department {
        name: "Finance",
        weight: 8,
        titles: &[
            "Accountant",
            "Financial Analyst",
            "Payroll Specialist",
            "Controller",
            "Chief Financial Officer",
        ],
    },
    Department {
        name: "HR",
        weight: 5,
        titles: &[
            "HR Generalist",
            "Recruiter",
            "HR Business Partner",
            "Head of People",
        ],
    },
    Department {
        name: "Marketing",
        weight: 10,
        titles: &[
            "Marketing Specialist",
            "Content Manager",
            "Product Marketing Manager",
            "Marketing Director",
        ],
    },
    Department {
        name: "Operations",
        weight: 12,
        titles: &[
            "Operations Analyst",
            "Office Manager",
            "Logistics Coordinator",
            "Facilities Manager",
            "Chief Operating Officer",
        ],
    },
    Department {
        name: "Legal",
        weight: 3,
        titles: &[
            "Legal Counsel",
            "Paralegal",
            "Senior Legal Counsel",
            "General Counsel",
        ],
    },
    Department {
        name: "IT",
        weight: 2,
        titles: &[
            "IT Administrator",
            "Service Desk Analyst",
            "Network Engineer",
            "IT Manager",
        ],
    },
];

struct City {
    name: &'static str,
    state: Option<&'static str>,
    postal: &'static str,
    street: &'static str,
}

struct Country {
    code: &'static str,
    name: &'static str,
    weight: u32,
    languages: &'static [&'static str],
    cities: &'static [City],
    /// Street address from house number and street name.
    number_first: bool,
}

static COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        name: "United States",
        weight: 40,
        languages: &["en-US"],
        number_first: true,
        cities: &[
            City {
                name: "Seattle",
                state: Some("WA"),
                postal: "98101",
                street: "Pine Street",
            },
            City {
                name: "Redmond",
                state: Some("WA"),
                postal: "98052",
                street: "NE 40th Street",
            },
            City {
                name: "New York",
                state: Some("NY"),
                postal: "10001",
                street: "Madison Avenue",
            },
            City {
                name: "Chicago",
                state: Some("IL"),
                postal: "60601",
                street: "Wacker Drive",
            },
            City {
                name: "Austin",
                state: Some("TX"),
                postal: "73301",
                street: "Congress Avenue",
            },
            City {
                name: "Boston",
                state: Some("MA"),
                postal: "02108",
                street: "Tremont Street",
            },
        ],
    },
    Country {
        code: "GB",
        name: "United Kingdom",
        weight: 15,
        languages: &["en-GB"],
        number_first: true,
        cities: &[
            City {
                name: "London",
                state: None,
                postal: "EC2A 4BX",
                street: "Shoreditch High Street",
            },
            City {
                name: "Manchester",
                state: None,
                postal: "M1 1AE",
                street: "Piccadilly",
            },
            City {
                name: "Edinburgh",
                state: Some("Scotland"),
                postal: "EH1 1YZ",
                street: "Princes Street",
            },
        ],
    },
    Country {
        code: "DE",
        name: "Germany",
        weight: 15,
        languages: &["de-DE"],
        number_first: false,
        cities: &[
            City {
                name: "Berlin",
                state: Some("Berlin"),
                postal: "10117",
                street: "Friedrichstraße",
            },
            City {
                name: "München",
                state: Some("Bayern"),
                postal: "80331",
                street: "Marienplatz",
            },
            City {
                name: "Hamburg",
                state: Some("Hamburg"),
                postal: "20095",
                street: "Mönckebergstraße",
            },
            City {
                name: "Frankfurt am Main",
                state: Some("Hessen"),
                postal: "60311",
                street: "Zeil",
            },
        ],
    },
    Country {
        code: "FR",
        name: "France",
        weight: 10,
        languages: &["fr-FR"],
        number_first: true,
        cities: &[
            City {
                name: "Paris",
                state: Some("Île-de-France"),
                postal: "75001",
                street: "rue de Rivoli",
            },
            City {
                name: "Lyon",
                state: Some("Auvergne-Rhône-Alpes"),
                postal: "69002",
                street: "rue de la République",
            },
            City {
                name: "Toulouse",
                state: Some("Occitanie"),
                postal: "31000",
                street: "rue d'Alsace-Lorraine",
            },
        ],
    },
    Country {
        code: "CA",
        name: "Canada",
        weight: 5,
        languages: &["en-CA", "fr-CA"],
        number_first: true,
        cities: &[
            City {
                name: "Toronto",
                state: Some("ON"),
                postal: "M5H 2N2",
                street: "King Street West",
            },
            City {
                name: "Vancouver",
                state: Some("BC"),
                postal: "V6B 1A1",
                street: "Granville Street",
            },
        ],
    },
    Country {
        code: "NL",
        name: "Netherlands",
        weight: 5,
        languages: &["nl-NL"],
        number_first: false,
        cities: &[
            City {
                name: "Amsterdam",
                state: Some("Noord-Holland"),
                postal: "1012 AB",
                street: "Damrak",
            },
            City {
                name: "Rotterdam",
                state: Some("Zuid-Holland"),
                postal: "3011 AD",
                street: "Coolsingel",
            },
        ],
    },
    Country {
        code: "AU",
        name: "Australia",
        weight: 5,
        languages: &["en-AU"],
        number_first: true,
        cities: &[
            City {
                name: "Sydney",
                state: Some("NSW"),
                postal: "2000",
                street: "George Street",
            },
            City {
                name: "Melbourne",
                state: Some("VIC"),
                postal: "3000",
                street: "Collins Street",
            },
        ],
    },
    Country {
        code: "CH",
        name: "Switzerland",
        weight: 5,
        languages: &["de-CH", "fr-CH"],
        number_first: false,
        cities: &[
            City {
                name: "Zürich",
                state: Some("ZH"),
                postal: "8001",
                street: "Bahnhofstrasse",
            },
            City {
                name: "Genève",
                state: Some("GE"),
                postal: "1201",
                street: "Rue du Rhône",
            },
        ],
    },
];

const GUEST_DOMAINS: &[&str] = &[
    "fabrikam.com",
    "northwindtraders.com",
    "adatum.com",
    "gmail.com",
    "outlook.com",
];

fn weighted<'a, T>(rng: &mut StdRng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut pick = rng.random_range(0..total.max(1));
    for item in items {
        let w = weight(item);
        if pick < w {
            return item;
        }
        pick -= w;
    }
    &items[0]
}

fn pick<'a>(rng: &mut StdRng, items: &'a [&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Titles are listed junior to senior: the last (the department's head) goes to ~2% of
/// people, the one before (a manager) to ~8%, the rest share the remainder.
fn job_title(rng: &mut StdRng, titles: &'static [&'static str]) -> &'static str {
    let n = titles.len();
    let roll = rng.random_range(0..100);
    let idx = if roll < 2 || n < 3 {
        n - 1
    } else if roll < 10 {
        n - 2
    } else {
        rng.random_range(0..n - 2)
    };
    titles[idx]
}

fn digits(rng: &mut StdRng, n: u32) -> String {
    let n = n.min(18);
    let max = 10u64.pow(n);
    format!("{:0width$}", rng.random_range(0..max), width = n as usize)
}

/// A business number in one of the country's usual spellings.
fn business_phone(rng: &mut StdRng, country: &str) -> String {
    let d = |rng: &mut StdRng, n| digits(rng, n);
    match country {
        "US" | "CA" => {
            let area = pick(
                rng,
                if country == "US" {
                    &["425", "206", "212", "312", "512", "617"]
                } else {
                    &["416", "604", "514"]
                },
            );
            let line = format!("01{}", d(rng, 2));
            match rng.random_range(0..5) {
                0 => format!("+1 {area} 555 {line}"),
                1 => format!("({area}) 555-{line} x{}", d(rng, 3)),
                2 => format!("{area}-555-{line}"),
                3 => format!("+1 ({area}) 555-{line}"),
                _ => format!("+1{area}555{line}"),
            }
        }
        "GB" => match rng.random_range(0..5) {
            0 => format!("+44 20 7946 0{}", d(rng, 3)),
            1 => format!("020 7946 0{}", d(rng, 3)),
            2 => format!("+44 (0)20 7946 0{}", d(rng, 3)),
            3 => format!("+44 161 496 0{}", d(rng, 3)),
            _ => format!("0161 496 0{}", d(rng, 3)),
        },
        "DE" => match rng.random_range(0..5) {
            0 => format!("+49 30 {}", d(rng, 8)),
            1 => format!("030 {}-{}", d(rng, 7), d(rng, 2)),
            2 => format!("+49 (0)89 {} {}", d(rng, 4), d(rng, 4)),
            3 => format!("089 {} {}", d(rng, 4), d(rng, 3)),
            _ => format!("+49 69 {} {}-{}", d(rng, 3), d(rng, 3), d(rng, 2)),
        },
        "FR" => {
            let pairs = |rng: &mut StdRng, sep: &str| {
                (0..4).map(|_| d(rng, 2)).collect::<Vec<_>>().join(sep)
            };
            match rng.random_range(0..4) {
                0 => format!("+33 1 {}", pairs(rng, " ")),
                1 => format!("01 {}", pairs(rng, " ")),
                2 => format!("+33 (0)4 {}", pairs(rng, " ")),
                _ => format!("01.{}", pairs(rng, ".")),
            }
        }
        "NL" => match rng.random_range(0..3) {
            0 => format!("+31 20 {} {}", d(rng, 3), d(rng, 4)),
            1 => format!("020-{} {}", d(rng, 3), d(rng, 4)),
            _ => format!("+31 (0)10 {} {}", d(rng, 3), d(rng, 4)),
        },
        "AU" => match rng.random_range(0..3) {
            0 => format!("+61 2 {} {}", d(rng, 4), d(rng, 4)),
            1 => format!("(02) {} {}", d(rng, 4), d(rng, 4)),
            _ => format!("+61 3 {} {}", d(rng, 4), d(rng, 4)),
        },
        _ => match rng.random_range(0..2) {
            0 => format!("+41 44 {} {} {}", d(rng, 3), d(rng, 2), d(rng, 2)),
            _ => format!("044 {} {} {}", d(rng, 3), d(rng, 2), d(rng, 2)),
        },
    }
}

fn mobile_phone(rng: &mut StdRng, country: &str) -> String {
    let d = |rng: &mut StdRng, n| digits(rng, n);
    match country {
        "US" | "CA" => {
            let area = pick(rng, &["206", "425", "646", "415", "778"]);
            match rng.random_range(0..3) {
                0 => format!("+1 {area} 555 01{}", d(rng, 2)),
                1 => format!("({area}) 555-01{}", d(rng, 2)),
                _ => format!("+1{area}55501{}", d(rng, 2)),
            }
        }
        "GB" => match rng.random_range(0..2) {
            0 => format!("+44 7700 900{}", d(rng, 3)),
            _ => format!("07700 900{}", d(rng, 3)),
        },
        "DE" => match rng.random_range(0..4) {
            0 => format!("+49 151 {} {}", d(rng, 4), d(rng, 4)),
            1 => format!("0151 {}", d(rng, 8)),
            2 => format!("+49 (0)170 {}", d(rng, 7)),
            _ => format!("0172/{}", d(rng, 7)),
        },
        "FR" => {
            let pairs = |rng: &mut StdRng, sep: &str| {
                (0..4).map(|_| d(rng, 2)).collect::<Vec<_>>().join(sep)
            };
            match rng.random_range(0..3) {
                0 => format!("+33 6 {}", pairs(rng, " ")),
                1 => format!("06 {}", pairs(rng, " ")),
                _ => format!("07.{}", pairs(rng, ".")),
            }
        }
        "NL" => match rng.random_range(0..2) {
            0 => format!("+31 6 {} {}", d(rng, 4), d(rng, 4)),
            _ => format!("06-{}", d(rng, 8)),
        },
        "AU" => match rng.random_range(0..2) {
            0 => format!("0412 {} {}", d(rng, 3), d(rng, 3)),
            _ => format!("+61 412 {} {}", d(rng, 3), d(rng, 3)),
        },
        _ => match rng.random_range(0..2) {
            0 => format!("+41 79 {} {} {}", d(rng, 3), d(rng, 2), d(rng, 2)),
            _ => format!("079 {} {} {}", d(rng, 3), d(rng, 2), d(rng, 2)),
        },
    }
}

/// Lower-case ASCII for a UPN: accents folded, anything but letters, digits and `-` dropped.
pub fn ascii_fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let folded: &str = match c {
            'a'..='z' | '0'..='9' | '-' => {
                out.push(c);
                continue;
            }
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
            'æ' => "ae",
            'ç' | 'č' | 'ć' => "c",
            'è' | 'é' | 'ê' | 'ë' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'ı' => "i",
            'ñ' | 'ń' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ő' => "o",
            'œ' => "oe",
            'ù' | 'ú' | 'û' | 'ü' | 'ű' | 'ů' => "u",
            'ý' | 'ÿ' => "y",
            'ß' => "ss",
            'ł' => "l",
            'š' | 'ś' | 'ş' => "s",
            'ž' | 'ź' | 'ż' => "z",
            'ř' => "r",
            'đ' => "d",
            'ğ' => "g",
            _ => "",
        };
        out.push_str(folded);
    }
    out
}

/// Values the generator repeats across users; [`super::packed`] stores them by reference.
pub fn vocabulary() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = vec![
        "Member",
        "Guest",
        "Employee",
        "Contractor",
        "Invitation",
        "Accepted",
        "PendingAcceptance",
    ];
    for d in DEPARTMENTS {
        words.push(d.name);
        words.extend_from_slice(d.titles);
    }
    for c in COUNTRIES {
        words.extend([c.code, c.name]);
        words.extend_from_slice(c.languages);
        for city in c.cities {
            words.extend([city.name, city.postal]);
            words.extend(city.state);
        }
    }
    words
}

/// Fills an empty directory. Runs in well under a second for 100,000 users in release.
pub fn populate(dir: &mut Directory, cfg: &TenantSeed<'_>) {
    if cfg.users == 0 {
        return;
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x5EED_0FD1_EC70_4100);
    dir.reserve(cfg.users);
    let dept_count = DEPARTMENTS.len();
    let mut by_dept: Vec<Vec<Member>> = vec![Vec::new(); dept_count];
    let mut leaders: Vec<Member> = Vec::new();
    let mut guests: Vec<Member> = Vec::new();
    let mut pilots: Vec<Member> = Vec::new();
    let mut values: Vec<(Slot, String)> = Vec::with_capacity(24);
    let mut scratch = String::with_capacity(512);
    for n in 1..=cfg.users {
        values.clear();
        let given = pick(&mut rng, GIVEN_NAMES);
        let surname = pick(&mut rng, SURNAMES);
        let guest = rng.random_bool(0.03);
        let enabled = !rng.random_bool(0.04);
        let country = weighted(&mut rng, COUNTRIES, |c| c.weight);
        let city = &country.cities[rng.random_range(0..country.cities.len())];
        let dept_idx = {
            let d = weighted(&mut rng, DEPARTMENTS, |d| d.weight);
            DEPARTMENTS
                .iter()
                .position(|x| x.name == d.name)
                .unwrap_or(0)
        };
        let dept = &DEPARTMENTS[dept_idx];
        let local = format!("{}.{}{n}", ascii_fold(given), ascii_fold(surname));
        let display = if !guest && country.code == "DE" && rng.random_bool(0.1) {
            format!("{surname}, {given}")
        } else {
            format!("{given} {surname}")
        };
        let id = Uuid::from_bytes(rng.random());
        let created = CREATED_FROM + rng.random_range(0..CREATED_SPAN);
        values.push((slot::GIVEN_NAME, given.to_owned()));
        values.push((slot::SURNAME, surname.to_owned()));
        if guest {
            let ext = pick(&mut rng, GUEST_DOMAINS);
            let ext_mail = format!("{local}@{ext}");
            let nickname = format!("{local}_{ext}#EXT#");
            values.push((slot::DISPLAY_NAME, display));
            values.push((
                slot::USER_PRINCIPAL_NAME,
                format!("{nickname}@{}", cfg.domain),
            ));
            values.push((slot::MAIL, ext_mail.clone()));
            values.push((slot::OTHER_MAILS, ext_mail));
            values.push((slot::MAIL_NICKNAME, nickname));
            values.push((slot::USER_TYPE, "Guest".to_owned()));
            values.push((slot::CREATION_TYPE, "Invitation".to_owned()));
            let state = if rng.random_bool(0.9) {
                "Accepted"
            } else {
                "PendingAcceptance"
            };
            values.push((slot::EXTERNAL_USER_STATE, state.to_owned()));
            if rng.random_bool(0.05) {
                values.push((
                    slot::BUSINESS_PHONES,
                    business_phone(&mut rng, country.code),
                ));
            }
            if rng.random_bool(0.1) {
                values.push((slot::MOBILE_PHONE, mobile_phone(&mut rng, country.code)));
            }
            if rng.random_bool(0.3) {
                let company = ext.split('.').next().unwrap_or(ext);
                let mut company = company.to_owned();
                if let Some(first) = company.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                values.push((slot::COMPANY_NAME, company));
            }
        } else {
            let upn = format!("{local}@{}", cfg.domain);
            let job = job_title(&mut rng, dept.titles);
            let contractor = rng.random_bool(0.08);
            let display = if contractor && rng.random_bool(0.3) {
                format!("{display} (Contractor)")
            } else {
                display
            };
            values.push((slot::DISPLAY_NAME, display));
            values.push((slot::USER_TYPE, "Member".to_owned()));
            values.push((slot::MAIL_NICKNAME, local.clone()));
            if rng.random_bool(0.95) {
                values.push((slot::MAIL, upn.clone()));
                values.push((slot::PROXY_ADDRESSES, format!("SMTP:{upn}")));
                if rng.random_bool(0.05) {
                    let alias = format!("smtp:{}@{}", ascii_fold(given), cfg.domain);
                    if let Some((_, p)) = values.last_mut() {
                        p.push(LIST_SEPARATOR);
                        p.push_str(&alias);
                    }
                }
            }
            values.push((slot::USER_PRINCIPAL_NAME, upn));
            values.push((slot::JOB_TITLE, job.to_owned()));
            values.push((slot::DEPARTMENT, dept.name.to_owned()));
            let office = match rng.random_range(0..4) {
                0 => format!(
                    "{} {}/{}",
                    city.name,
                    rng.random_range(1..40),
                    rng.random_range(1000..4999)
                ),
                1 => format!(
                    "{}/{}",
                    rng.random_range(1..130),
                    rng.random_range(1000..4999)
                ),
                2 => format!("{} – Floor {}", city.name, rng.random_range(1..30)),
                _ => format!(
                    "Building {}, Room {}",
                    rng.random_range(1..12),
                    rng.random_range(100..999)
                ),
            };
            values.push((slot::OFFICE_LOCATION, office));
            if rng.random_bool(0.8) {
                values.push((
                    slot::BUSINESS_PHONES,
                    business_phone(&mut rng, country.code),
                ));
            }
            if rng.random_bool(0.6) {
                values.push((slot::MOBILE_PHONE, mobile_phone(&mut rng, country.code)));
            }
            if rng.random_bool(0.5) {
                let eid = match rng.random_range(0..3) {
                    0 => format!("E{:06}", n),
                    1 => format!("{:05}", 10_000 + n % 90_000),
                    _ => format!("EMP-{:04}", n % 10_000),
                };
                values.push((slot::EMPLOYEE_ID, eid));
            }
            if contractor {
                values.push((slot::EMPLOYEE_TYPE, "Contractor".to_owned()));
            } else if rng.random_bool(0.75) {
                values.push((slot::EMPLOYEE_TYPE, "Employee".to_owned()));
            }
            if rng.random_bool(0.75) {
                values.push((slot::COMPANY_NAME, cfg.company.to_owned()));
            }
            if rng.random_bool(0.97) {
                values.push((slot::USAGE_LOCATION, country.code.to_owned()));
            }
            if rng.random_bool(0.85) {
                values.push((
                    slot::PREFERRED_LANGUAGE,
                    pick(&mut rng, country.languages).to_owned(),
                ));
            }
            if rng.random_bool(0.6) {
                values.push((slot::CITY, city.name.to_owned()));
                values.push((slot::COUNTRY, country.name.to_owned()));
                values.push((slot::POSTAL_CODE, city.postal.to_owned()));
                if let Some(state) = city.state {
                    values.push((slot::STATE, state.to_owned()));
                }
                let number = rng.random_range(1..400);
                let street = if country.number_first {
                    format!("{number} {}", city.street)
                } else {
                    format!("{} {number}", city.street)
                };
                values.push((slot::STREET_ADDRESS, street));
            }
            if rng.random_bool(0.02) {
                values.push((slot::FAX_NUMBER, business_phone(&mut rng, country.code)));
            }
            if rng.random_bool(0.3) {
                let raw: [u8; 16] = rng.random();
                values.push((
                    slot::ON_PREMISES_IMMUTABLE_ID,
                    base64::engine::general_purpose::STANDARD.encode(raw),
                ));
            }
            if rng.random_bool(0.2) {
                values.push((
                    slot::EXTENSION_ATTRIBUTE_1,
                    format!("CC-{}", rng.random_range(1000..9999)),
                ));
            }
        }
        let data = Packed::build_into(&mut scratch, values.iter().map(|(s, v)| (*s, v.as_str())));
        let idx = dir.insert_packed(id, created, enabled, data);
        let member = Member::User(idx);
        if guest {
            guests.push(member);
            continue;
        }
        by_dept[dept_idx].push(member);
        let title = dir
            .user(idx)
            .and_then(|u| u.text(slot::JOB_TITLE))
            .unwrap_or_default();
        if title.starts_with("Head")
            || title.starts_with("Director")
            || title.starts_with("VP")
            || title.starts_with("Chief")
            || title.starts_with("General")
            || title.ends_with("Director")
        {
            leaders.push(member);
        }
        if rng.random_bool(0.01) {
            pilots.push(member);
        }
    }
    add_groups(dir, &mut rng, cfg, by_dept, leaders, guests, pilots);
}

fn make_group(
    dir: &mut Directory,
    rng: &mut StdRng,
    domain: &str,
    name: &str,
    description: &str,
    unified: bool,
    members: Vec<Member>,
) -> Option<u32> {
    let nickname = ascii_fold(&name.replace(' ', ""));
    let created = CREATED_FROM + rng.random_range(0..CREATED_SPAN);
    let group = Group {
        id: Uuid::from_bytes(rng.random()),
        display_name: name.to_owned(),
        description: Some(description.to_owned()),
        mail: unified.then(|| format!("{nickname}@{domain}")),
        mail_nickname: nickname,
        mail_enabled: unified,
        security_enabled: !unified,
        group_types: if unified {
            vec!["Unified".to_owned()]
        } else {
            Vec::new()
        },
        created,
        members,
    };
    dir.add_group(group).ok()
}

fn add_groups(
    dir: &mut Directory,
    rng: &mut StdRng,
    cfg: &TenantSeed<'_>,
    by_dept: Vec<Vec<Member>>,
    leaders: Vec<Member>,
    guests: Vec<Member>,
    pilots: Vec<Member>,
) {
    let domain = cfg.domain;
    let mut dept_groups: Vec<(&str, Option<u32>)> = Vec::new();
    for (dept, members) in DEPARTMENTS.iter().zip(by_dept) {
        let description = format!("Everyone in {}", dept.name);
        let g = make_group(dir, rng, domain, dept.name, &description, false, members);
        dept_groups.push((dept.name, g));
    }
    let dept = |name: &str| {
        dept_groups
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, g)| *g)
    };
    // Customer Facing ⊃ Sales, Support (+ the first few marketers directly).
    let mut facing: Vec<Member> = ["Sales", "Support"]
        .iter()
        .filter_map(|n| dept(n).map(Member::Group))
        .collect();
    if let Some(g) = dept("Marketing").and_then(|g| dir.group(g)) {
        facing.extend(g.members.iter().take(5).copied());
    }
    let facing = make_group(
        dir,
        rng,
        domain,
        "Customer Facing",
        "Sales and support, nested",
        false,
        facing,
    );
    // All Staff ⊃ Customer Facing ⊃ Sales: three levels.
    let mut all: Vec<Member> = facing.map(Member::Group).into_iter().collect();
    all.extend(
        DEPARTMENTS
            .iter()
            .filter(|d| d.name != "Sales" && d.name != "Support")
            .filter_map(|d| dept(d.name).map(Member::Group)),
    );
    let description = "Every employee, through department groups";
    make_group(dir, rng, domain, "All Staff", description, false, all);
    let leadership = make_group(
        dir,
        rng,
        domain,
        "Leadership",
        "Heads, directors and chiefs",
        false,
        leaders,
    );
    let mut pilot = pilots;
    pilot.extend(leadership.map(Member::Group));
    let description = "Early users of the new phone system";
    make_group(
        dir,
        rng,
        domain,
        "Phone System Pilot",
        description,
        true,
        pilot,
    );
    make_group(
        dir,
        rng,
        domain,
        "External Guests",
        "Invited guest accounts",
        false,
        guests,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding() {
        assert_eq!(ascii_fold("Zoë"), "zoe");
        assert_eq!(ascii_fold("O'Brien"), "obrien");
        assert_eq!(ascii_fold("van der Berg"), "vanderberg");
        assert_eq!(
            ascii_fold("Łukasz Wiśniewski-Groß"),
            "lukaszwisniewski-gross"
        );
    }

    #[test]
    fn same_seed_same_tenant() {
        let make = |seed| {
            let mut d = Directory::new();
            populate(
                &mut d,
                &TenantSeed {
                    users: 300,
                    seed,
                    domain: "contoso.onmicrosoft.com",
                    company: "Contoso",
                },
            );
            d
        };
        let (a, b, c) = (make(1), make(1), make(2));
        let ids = |d: &Directory| {
            d.users()
                .iter()
                .map(|u| (u.id, u.data.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&c));
        assert_eq!(a.users().len(), 300);
        assert!(a.groups().len() >= 13);
    }

    #[test]
    fn users_pack_small() {
        let mut d = Directory::new();
        let seed = TenantSeed {
            users: 5000,
            seed: 3,
            domain: "contoso.onmicrosoft.com",
            company: "Contoso",
        };
        populate(&mut d, &seed);
        let avg = d.users().iter().map(|u| u.data.heap_bytes()).sum::<usize>() / 5000;
        assert!(avg < 240, "{avg} bytes of strings per user");
        assert!(
            d.approx_heap_bytes() / 5000 < 400,
            "{}",
            d.approx_heap_bytes() / 5000
        );
    }
}
