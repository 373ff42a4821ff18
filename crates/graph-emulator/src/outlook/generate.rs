//! Deterministic mailbox contents: the folder tree and how many contacts sit where (from the
//! seed and the user's index), and each contact's data (from the seed, the user's index and
//! the contact's number). Nothing here is stored: a mailbox keeps only its layout, and an
//! unchanged generated contact is rebuilt whenever it is read, so a tenant of 100,000 users
//! costs nothing until a mailbox is touched.
//!
//! Contacts are mostly from the user's own country (usageLocation; US when unset) and partly
//! international, with phone numbers written the many ways people type them: national and
//! international forms, `00` prefixes, `(0)`, extensions, and some garbage.

use rand::Rng;
use serde_json::{Map, Value, json};

use super::contact::{Contact, ContactData, prop};
use super::ids::{DEFAULT_FOLDER, Mix64, mix};
use crate::directory::generate::ascii_fold;
use crate::directory::names::{GIVEN_NAMES, SURNAMES};

/// Most contacts a generated mailbox holds (0 ..= this, uniformly: 100 on average).
pub const MAX_CONTACTS: u32 = 200;
/// Folders besides the default one (0 ..= this).
pub const MAX_EXTRA_FOLDERS: u32 = 3;
/// The default Contacts folder's name.
pub const DEFAULT_FOLDER_NAME: &str = "Contacts";

const LAYOUT_SALT: u64 = 0x00c0_4fa1_1a70_0001;
const CONTACT_SALT: u64 = 0x00c0_4fa1_1a70_0002;
const MAILBOX_SALT: u64 = 0x00c0_4fa1_1a70_0003;

/// Share of generated members without an Exchange mailbox (unlicensed); guests never have
/// one. Together about 5% of generated users.
const NO_MAILBOX_PERCENT: u64 = 2;

/// Whether the generated user at `idx` has a mailbox.
pub fn has_mailbox(seed: u64, idx: u32, guest: bool) -> bool {
    !guest && mix(&[seed, u64::from(idx), MAILBOX_SALT]) % 100 >= NO_MAILBOX_PERCENT
}

/// A generated mailbox's shape: `folders[0]` is the default Contacts folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// (displayName, parent folder number).
    pub folders: Vec<(String, u32)>,
    /// The folder number of each contact, by contact number.
    pub contacts: Vec<u32>,
}

const TOP_FOLDERS: &[&str] = &[
    "Customers",
    "Suppliers",
    "Family",
    "Partners",
    "Recruiters",
    "Old contacts",
    "Conference contacts",
    "Vendors",
    "Press",
    "Friends",
    "Service providers",
    "Alumni",
];
const TOP_FOLDERS_DE: &[&str] = &["Kunden", "Lieferanten", "Familie", "Partner", "Handwerker"];
const TOP_FOLDERS_FR: &[&str] = &["Clients", "Fournisseurs", "Famille", "Partenaires"];
const NESTED_FOLDERS: &[&str] = &[
    "Key accounts",
    "EMEA",
    "Americas",
    "APAC",
    "Archive",
    "2023",
    "Inactive",
    "Top 10",
    "Former colleagues",
];

fn pick<'a, T: ?Sized>(rng: &mut Mix64, items: &'a [&'a T]) -> &'a T {
    items[rng.random_range(0..items.len())]
}

/// The folder tree and the contacts' folders of the generated user at `idx`.
pub fn layout(seed: u64, idx: u32, country: &str) -> Layout {
    let mut rng = Mix64::new(mix(&[seed, u64::from(idx), LAYOUT_SALT]));
    let count = rng.random_range(0..=MAX_CONTACTS);
    let extras = rng.random_range(0..=MAX_EXTRA_FOLDERS);
    let mut folders: Vec<(String, u32)> =
        vec![(DEFAULT_FOLDER_NAME.to_owned(), super::ids::ROOT_FOLDER)];
    for k in 1..=extras {
        let nested = k > 1 && rng.random_bool(0.4);
        let parent = if nested {
            rng.random_range(1..k)
        } else {
            DEFAULT_FOLDER
        };
        let names = match (nested, country) {
            (true, _) => NESTED_FOLDERS,
            (false, "DE" | "CH") if rng.random_bool(0.6) => TOP_FOLDERS_DE,
            (false, "FR") if rng.random_bool(0.6) => TOP_FOLDERS_FR,
            _ => TOP_FOLDERS,
        };
        let mut name = pick(&mut rng, names).to_owned();
        // Exchange refuses two folders of one name under one parent.
        while folders.iter().any(|(n, p)| *p == parent && *n == name) {
            name.push_str(" (2)");
        }
        folders.push((name, parent));
    }
    let contacts = (0..count)
        .map(|_| {
            if extras == 0 || rng.random_bool(0.55) {
                DEFAULT_FOLDER
            } else {
                rng.random_range(1..=extras)
            }
        })
        .collect();
    Layout { folders, contacts }
}

struct Locale {
    code: &'static str,
    country: &'static str,
    tld: &'static str,
    personal_domains: &'static [&'static str],
    companies: &'static [&'static str],
    /// (city, state, postal code, street).
    cities: &'static [(
        &'static str,
        Option<&'static str>,
        &'static str,
        &'static str,
    )],
    number_first: bool,
}

static LOCALES: &[Locale] = &[
    Locale {
        code: "US",
        country: "United States",
        tld: "com",
        personal_domains: &["gmail.com", "outlook.com", "yahoo.com", "icloud.com"],
        companies: &[
            "Fabrikam, Inc.",
            "Northwind Traders",
            "Adventure Works Cycles",
            "Tailspin Toys",
            "Wide World Importers",
            "Blue Yonder Airlines",
            "City Power & Light",
            "Woodgrove Bank",
            "Humongous Insurance",
            "Trey Research",
        ],
        cities: &[
            ("New York", Some("NY"), "10018", "Avenue of the Americas"),
            ("Seattle", Some("WA"), "98104", "2nd Avenue"),
            ("Chicago", Some("IL"), "60606", "Wacker Drive"),
            ("Austin", Some("TX"), "78701", "Congress Avenue"),
        ],
        number_first: true,
    },
    Locale {
        code: "GB",
        country: "United Kingdom",
        tld: "co.uk",
        personal_domains: &["gmail.com", "btinternet.com", "outlook.com", "yahoo.co.uk"],
        companies: &[
            "Smith & Jones Ltd",
            "Lucerne Publishing",
            "Margie's Travel",
            "Coho Winery UK",
            "Thames Valley Logistics plc",
            "Proseware Ltd",
        ],
        cities: &[
            ("London", None, "EC1V 9BD", "City Road"),
            ("Manchester", None, "M2 5DB", "Deansgate"),
            ("Birmingham", None, "B2 4QA", "New Street"),
        ],
        number_first: true,
    },
    Locale {
        code: "DE",
        country: "Deutschland",
        tld: "de",
        personal_domains: &["gmx.de", "web.de", "t-online.de", "gmail.com"],
        companies: &[
            "Müller & Söhne GmbH",
            "Schmidt Logistik AG",
            "Bäckerei Weiß",
            "Kanzlei Becker & Partner",
            "Litware GmbH",
            "Stadtwerke Nord",
        ],
        cities: &[
            ("Berlin", Some("Berlin"), "10115", "Invalidenstraße"),
            ("München", Some("Bayern"), "80331", "Kaufingerstraße"),
            ("Köln", Some("NRW"), "50667", "Hohe Straße"),
        ],
        number_first: false,
    },
    Locale {
        code: "FR",
        country: "France",
        tld: "fr",
        personal_domains: &["orange.fr", "free.fr", "gmail.com", "laposte.net"],
        companies: &[
            "Boulangerie Dupont SARL",
            "Société Générale d'Import",
            "Cabinet Martin",
            "Alpine Ski House France",
            "Transports Lefèvre",
        ],
        cities: &[
            ("Paris", None, "75008", "rue du Faubourg Saint-Honoré"),
            ("Lyon", None, "69002", "rue de la République"),
            ("Marseille", None, "13001", "La Canebière"),
        ],
        number_first: true,
    },
    Locale {
        code: "CA",
        country: "Canada",
        tld: "ca",
        personal_domains: &["gmail.com", "rogers.com", "videotron.ca"],
        companies: &["Maple Leaf Freight", "Fourth Coffee", "Relecloud Canada"],
        cities: &[
            ("Toronto", Some("ON"), "M5V 2T6", "King Street West"),
            (
                "Montréal",
                Some("QC"),
                "H3B 4W8",
                "rue Sainte-Catherine Ouest",
            ),
        ],
        number_first: true,
    },
    Locale {
        code: "NL",
        country: "Nederland",
        tld: "nl",
        personal_domains: &["ziggo.nl", "kpnmail.nl", "gmail.com"],
        companies: &["Van der Berg B.V.", "De Vries Techniek", "VanArsdel B.V."],
        cities: &[
            ("Amsterdam", None, "1017 AB", "Keizersgracht"),
            ("Utrecht", None, "3511 AB", "Oudegracht"),
        ],
        number_first: false,
    },
    Locale {
        code: "AU",
        country: "Australia",
        tld: "com.au",
        personal_domains: &["bigpond.com", "gmail.com", "outlook.com"],
        companies: &["Southridge Video Pty Ltd", "Wingtip Toys Australia"],
        cities: &[
            ("Sydney", Some("NSW"), "2000", "Pitt Street"),
            ("Brisbane", Some("QLD"), "4000", "Queen Street"),
        ],
        number_first: true,
    },
    Locale {
        code: "CH",
        country: "Schweiz",
        tld: "ch",
        personal_domains: &["bluewin.ch", "gmx.ch", "gmail.com"],
        companies: &["Graubünden Treuhand AG", "Zürcher Uhren SA"],
        cities: &[
            ("Zürich", Some("ZH"), "8004", "Langstrasse"),
            ("Basel", Some("BS"), "4051", "Freie Strasse"),
        ],
        number_first: false,
    },
    Locale {
        code: "RU",
        country: "Россия",
        tld: "ru",
        personal_domains: &["yandex.ru", "mail.ru", "gmail.com"],
        companies: &["ООО «Ромашка»", "АО Северсталь-Сервис", "Volga Trading LLC"],
        cities: &[
            ("Москва", None, "125009", "Тверская улица"),
            ("Санкт-Петербург", None, "191186", "Невский проспект"),
        ],
        number_first: false,
    },
    Locale {
        code: "IT",
        country: "Italia",
        tld: "it",
        personal_domains: &["libero.it", "gmail.com", "tiscali.it"],
        companies: &[
            "Rossi & Figli S.r.l.",
            "Trattoria da Mario",
            "Ferrari Logistica S.p.A.",
        ],
        cities: &[
            ("Roma", Some("RM"), "00187", "Via del Corso"),
            ("Milano", Some("MI"), "20121", "Via Montenapoleone"),
        ],
        number_first: false,
    },
    Locale {
        code: "ES",
        country: "España",
        tld: "es",
        personal_domains: &["telefonica.net", "gmail.com", "hotmail.es"],
        companies: &["García Hermanos S.L.", "Ibérica de Transportes"],
        cities: &[
            ("Madrid", None, "28013", "Gran Vía"),
            ("Barcelona", None, "08002", "Passeig de Gràcia"),
        ],
        number_first: false,
    },
    Locale {
        code: "JP",
        country: "日本",
        tld: "co.jp",
        personal_domains: &["docomo.ne.jp", "yahoo.co.jp", "gmail.com"],
        companies: &[
            "株式会社サンプル商事",
            "Tokyo Precision K.K.",
            "大阪物産株式会社",
        ],
        cities: &[
            ("東京都千代田区", None, "100-0005", "丸の内1-1-1"),
            ("大阪市北区", None, "530-0001", "梅田2-2-2"),
        ],
        number_first: false,
    },
];

fn locale(code: &str) -> &'static Locale {
    LOCALES
        .iter()
        .find(|l| l.code.eq_ignore_ascii_case(code))
        .unwrap_or(&LOCALES[0])
}

/// (native, Latin for the e-mail address).
const RU_GIVEN: &[(&str, &str)] = &[
    ("Алексей", "aleksey"),
    ("Екатерина", "ekaterina"),
    ("Дмитрий", "dmitry"),
    ("Ольга", "olga"),
    ("Сергей", "sergey"),
    ("Наталья", "natalya"),
    ("Dmitry", "dmitry"),
    ("Anna", "anna"),
];
const RU_SURNAMES: &[(&str, &str)] = &[
    ("Иванов", "ivanov"),
    ("Смирнова", "smirnova"),
    ("Кузнецов", "kuznetsov"),
    ("Соколова", "sokolova"),
    ("Popov", "popov"),
    ("Volkova", "volkova"),
];
const JP_GIVEN: &[(&str, &str)] = &[
    ("太郎", "taro"),
    ("花子", "hanako"),
    ("Haruto", "haruto"),
    ("Yuki", "yuki"),
    ("さくら", "sakura"),
];
const JP_SURNAMES: &[(&str, &str)] = &[
    ("山田", "yamada"),
    ("佐藤", "sato"),
    ("Suzuki", "suzuki"),
    ("Takahashi", "takahashi"),
    ("田中", "tanaka"),
];

const JOB_TITLES: &[&str] = &[
    "Account Manager",
    "Sales Director",
    "CEO",
    "CFO",
    "Procurement Manager",
    "Project Manager",
    "Consultant",
    "Senior Engineer",
    "Lawyer",
    "Accountant",
    "Office Manager",
    "Recruiter",
    "Journalist",
    "Architect",
    "Owner",
    "Geschäftsführer",
    "Directeur commercial",
];
const DEPARTMENTS: &[&str] = &["Sales", "Purchasing", "Finance", "IT", "Legal", "Marketing"];
const SERVICES: &[&str] = &[
    "Taxi Central",
    "Pizza Bella",
    "IT Helpdesk",
    "Building Security",
    "Front Desk",
    "Travel Agency",
    "Car Rental",
    "Catering Service",
    "Locksmith 24/7",
];
const CATEGORIES: &[&str] = &[
    "Customer",
    "Supplier",
    "VIP",
    "Personal",
    "Holiday Cards",
    "Red category",
];
const NOTES: &[&str] = &[
    "Met at the trade fair",
    "Prefers e-mail",
    "Call only in the morning",
    "Key account, escalate to sales",
    "Former colleague",
    "Speaks German and French",
];
const TITLES: &[&str] = &["Dr.", "Mr.", "Ms.", "Prof.", "Mrs."];
/// What people type into a phone field when they have no number (or paste too much).
const GARBAGE: &[&str] = &[
    "ask reception",
    "n/a",
    "-",
    "see email",
    "TBD",
    "unknown",
    "+",
    "0",
    "call switchboard",
    "1-800-FLOWERS",
    "same as above",
    "via reception, ask for Maria",
    "tel:+44 20 7946 0123",
    "+44 20 7946 0123 / 0124",
    "+49 (0) 30 - 123 456 - 78",
    "0800 CONTOSO",
];

/// Contacts created between 2015-01-01 and 2024-12-31, modified up to 2025-06-01.
const CREATED_FROM: i64 = 1_420_070_400;
const CREATED_SPAN: i64 = 10 * 365 * 86_400;
const MODIFIED_UNTIL: i64 = 1_748_736_000;

fn digits(rng: &mut Mix64, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// Groups of `sizes` digits joined by `sep`.
fn grouped(rng: &mut Mix64, sizes: &[usize], sep: &str) -> String {
    sizes
        .iter()
        .map(|n| digits(rng, *n))
        .collect::<Vec<_>>()
        .join(sep)
}

/// A number of `country`, national or international, as people write them.
fn phone(rng: &mut Mix64, country: &str, mobile: bool, international: bool) -> String {
    let intl = international;
    match country {
        "US" | "CA" => {
            let areas: &[&str] = match (country, mobile) {
                ("CA", _) => &["416", "604", "514"],
                (_, true) => &["917", "646", "206"],
                _ => &["212", "206", "312", "512"],
            };
            let area = pick(rng, areas);
            let line = format!("01{}", digits(rng, 2));
            if !mobile && rng.random_bool(0.05) {
                return format!("1-800-555-0{}", digits(rng, 3));
            }
            match (intl, rng.random_range(0..5)) {
                (false, 0) => format!("({area}) 555-{line}"),
                (false, 1) => format!("{area}-555-{line}"),
                (false, 2) => format!("{area}.555.{line}"),
                (false, 3) => format!("1-{area}-555-{line}"),
                (false, _) => format!("{area} 555 {line}"),
                (true, 0) => format!("+1-{area}-555-{line}"),
                (true, 1) => format!("+1 ({area}) 555-{line}"),
                (true, 2) => format!("+1{area}555{line}"),
                (true, 3) => format!("001 {area} 555 {line}"),
                (true, _) => format!("+1 {area} 555 {line}"),
            }
        }
        "GB" => {
            let (national, rest) = if mobile {
                ("07700", format!("900{}", digits(rng, 3)))
            } else {
                match rng.random_range(0..3) {
                    0 => ("020", format!("7946 0{}", digits(rng, 3))),
                    1 => ("0161", format!("496 0{}", digits(rng, 3))),
                    _ => ("0121", format!("496 0{}", digits(rng, 3))),
                }
            };
            let trunk = &national[1..];
            match (intl, rng.random_range(0..4)) {
                (false, 0) => format!("({national}) {rest}"),
                (false, _) => format!("{national} {rest}"),
                (true, 0) => format!("+44 (0){trunk} {rest}"),
                (true, 1) => format!("0044 {trunk} {rest}"),
                (true, 2) => format!("+44{trunk}{}", rest.replace(' ', "")),
                (true, _) => format!("+44 {trunk} {rest}"),
            }
        }
        "DE" => {
            let area = if mobile {
                pick(rng, &["151", "160", "171", "172", "176"])
            } else {
                pick(rng, &["30", "89", "40", "69", "221"])
            };
            let n = if mobile {
                digits(rng, 8)
            } else {
                digits(rng, 10 - area.len())
            };
            match (intl, rng.random_range(0..4)) {
                (false, 0) => format!("0{area}/{n}"),
                (false, 1) => format!("(0{area}) {}", split_at_half(&n)),
                (false, 2) if !mobile => {
                    format!("0{area} {}-{}", &n[..n.len() - 2], digits(rng, 2))
                }
                (false, _) => format!("0{area} {n}"),
                (true, 0) => format!("0049 {area} {n}"),
                (true, 1) => format!("+49 (0){area} {n}"),
                (true, 2) => format!("+49 {area} {}", split_at_half(&n)),
                (true, _) => format!("+49 {area} {n}"),
            }
        }
        "FR" => {
            let first = if mobile {
                pick(rng, &["6", "7"])
            } else {
                pick(rng, &["1", "4", "5"])
            };
            let pairs = [
                digits(rng, 2),
                digits(rng, 2),
                digits(rng, 2),
                digits(rng, 2),
            ];
            match (intl, rng.random_range(0..3)) {
                (false, 0) => format!("0{first}.{}", pairs.join(".")),
                (false, 1) => format!("0{first}{}", pairs.concat()),
                (false, _) => format!("0{first} {}", pairs.join(" ")),
                (true, 0) => format!("+33 (0){first} {}", pairs.join(" ")),
                (true, 1) => format!("0033 {first} {}", pairs.join(" ")),
                (true, _) => format!("+33 {first} {}", pairs.join(" ")),
            }
        }
        "NL" => {
            if mobile {
                let n = digits(rng, 8);
                match (intl, rng.random_range(0..2)) {
                    (false, 0) => format!("06-{n}"),
                    (false, _) => format!("06 {}", grouped_str(&n, &[2, 2, 2, 2])),
                    (true, _) => format!("+31 6 {n}"),
                }
            } else {
                let a = digits(rng, 3);
                let b = digits(rng, 4);
                match (intl, rng.random_range(0..2)) {
                    (false, 0) => format!("020-{a}{b}"),
                    (false, _) => format!("020 {a} {b}"),
                    (true, 0) => format!("+31 (0)20 {a} {b}"),
                    (true, _) => format!("+31 20 {a} {b}"),
                }
            }
        }
        "AU" => {
            if mobile {
                let n = grouped(rng, &[3, 3], " ");
                if intl {
                    format!("+61 412 {n}")
                } else {
                    format!("0412 {n}")
                }
            } else {
                let n = grouped(rng, &[4, 4], " ");
                match (intl, rng.random_range(0..2)) {
                    (false, 0) => format!("(02) {n}"),
                    (false, _) => format!("02 {n}"),
                    (true, _) => format!("+61 2 {n}"),
                }
            }
        }
        "CH" => {
            let area = if mobile {
                pick(rng, &["79", "78", "76"])
            } else {
                pick(rng, &["44", "61", "22"])
            };
            let n = grouped(rng, &[3, 2, 2], " ");
            match (intl, rng.random_range(0..2)) {
                (false, _) => format!("0{area} {n}"),
                (true, 0) => format!("0041 {area} {n}"),
                (true, _) => format!("+41 {area} {n}"),
            }
        }
        "RU" => {
            if !mobile && rng.random_bool(0.1) {
                return "8 800 555 35 35".to_owned();
            }
            let area = if mobile {
                pick(rng, &["916", "926", "903"])
            } else {
                pick(rng, &["495", "499", "812"])
            };
            let (a, b, c) = (digits(rng, 3), digits(rng, 2), digits(rng, 2));
            match (intl, rng.random_range(0..3)) {
                (false, 0) => format!("8 ({area}) {a}-{b}-{c}"),
                (false, 1) => format!("8-{area}-{a}-{b}-{c}"),
                (false, _) => format!("8 {area} {a} {b} {c}"),
                (true, 0) => format!("+7 ({area}) {a}-{b}-{c}"),
                (true, 1) => format!("+7{area}{a}{b}{c}"),
                (true, _) => format!("+7 {area} {a}-{b}-{c}"),
            }
        }
        "IT" => {
            if mobile {
                let n = format!("{} {}", digits(rng, 3), digits(rng, 4));
                let prefix = pick(rng, &["333", "347", "320"]);
                if intl {
                    format!("+39 {prefix} {n}")
                } else {
                    format!("{prefix} {n}")
                }
            } else {
                let area = pick(rng, &["06", "02"]);
                let n = grouped(rng, &[4, 4], " ");
                match (intl, rng.random_range(0..2)) {
                    (false, _) => format!("{area} {n}"),
                    (true, 0) => format!("0039 {area} {n}"),
                    (true, _) => format!("+39 {area} {n}"),
                }
            }
        }
        "ES" => {
            let first = if mobile { "6" } else { "91" };
            let n = if mobile {
                format!(
                    "{first}{} {}",
                    digits(rng, 2),
                    grouped(rng, &[2, 2, 2], " ")
                )
            } else {
                format!(
                    "{first}{} {}",
                    digits(rng, 1),
                    grouped(rng, &[2, 2, 2], " ")
                )
            };
            match (intl, rng.random_range(0..2)) {
                (false, _) => n,
                (true, 0) => format!("0034 {n}"),
                (true, _) => format!("+34 {n}"),
            }
        }
        _ => {
            // JP
            let (national, tail) = if mobile {
                (
                    pick(rng, &["090", "080"]).to_owned(),
                    grouped(rng, &[4, 4], "-"),
                )
            } else {
                (
                    pick(rng, &["03", "06"]).to_owned(),
                    grouped(rng, &[4, 4], "-"),
                )
            };
            if intl {
                format!("+81 {}-{tail}", &national[1..])
            } else {
                format!("{national}-{tail}")
            }
        }
    }
}

fn split_at_half(n: &str) -> String {
    let mid = n.len() / 2;
    format!("{} {}", &n[..mid], &n[mid..])
}

fn grouped_str(n: &str, sizes: &[usize]) -> String {
    let mut out = Vec::new();
    let mut at = 0;
    for s in sizes {
        out.push(n.get(at..at + s).unwrap_or_default());
        at += s;
    }
    out.join(" ")
}

/// An extension written the local way.
fn with_extension(rng: &mut Mix64, country: &str, number: String) -> String {
    let len = rng.random_range(2..=4);
    let ext = digits(rng, len);
    match country {
        "DE" | "CH" if !number.contains('-') => format!("{number}-{ext}"),
        "DE" | "CH" => format!("{number} Durchwahl {ext}"),
        "FR" => format!("{number} poste {ext}"),
        "US" | "CA" if rng.random_bool(0.5) => format!("{number} x{ext}"),
        _ => format!("{number} ext. {ext}"),
    }
}

fn any_phone(rng: &mut Mix64, country: &str, mobile: bool, home_country: bool) -> String {
    if rng.random_bool(0.03) {
        return pick(rng, GARBAGE).to_owned();
    }
    // Numbers abroad are mostly kept in international form; local ones mostly not.
    let intl = rng.random_bool(if home_country { 0.35 } else { 0.85 });
    let number = phone(rng, country, mobile, intl);
    if !mobile && rng.random_bool(0.1) {
        with_extension(rng, country, number)
    } else {
        number
    }
}

/// The company's e-mail domain: the name without legal suffixes, folded to ASCII.
fn company_domain(company: &str, tld: &str, num: u32) -> String {
    const SUFFIXES: &[&str] = &[
        "gmbh", "ag", "ltd", "inc", "plc", "sarl", "bv", "sa", "srl", "spa", "sl", "kk", "pty",
        "llc",
    ];
    let words: Vec<String> = company
        .split(|c: char| c.is_whitespace() || c == ',' || c == '&')
        .map(|w| ascii_fold(&w.replace('.', "")))
        .filter(|w| !w.is_empty() && !SUFFIXES.contains(&w.as_str()))
        .take(2)
        .collect();
    if words.is_empty() {
        format!("company{num}.{tld}")
    } else {
        format!("{}.{tld}", words.join("-"))
    }
}

fn email(name: String, address: String) -> Value {
    let mut m = Map::new();
    m.insert("name".to_owned(), Value::String(name));
    m.insert("address".to_owned(), Value::String(address));
    Value::Object(m)
}

/// The contact with number `num` of the generated user at `idx`, whose usageLocation is
/// `home` (a country code; US when unknown).
pub fn contact(seed: u64, idx: u32, num: u32, home: &str) -> Contact {
    let mut rng = Mix64::new(mix(&[seed, u64::from(idx), u64::from(num), CONTACT_SALT]));
    let home = locale(home);
    let here = if rng.random_bool(0.75) {
        home
    } else {
        &LOCALES[rng.random_range(0..LOCALES.len())]
    };
    let domestic = here.code == home.code;
    let mut d = ContactData::default();
    let created = CREATED_FROM + rng.random_range(0..CREATED_SPAN);
    let modified = if rng.random_bool(0.6) {
        created
    } else {
        (created + rng.random_range(0..3 * 365 * 86_400)).min(MODIFIED_UNTIL)
    };

    if rng.random_bool(0.06) {
        // A service line: no person, just a name and a number.
        let name = pick(&mut rng, SERVICES);
        d.set_text(prop::DISPLAY_NAME, name);
        d.set_text(prop::FILE_AS, name);
        d.set_text(prop::COMPANY_NAME, name);
        let number = any_phone(&mut rng, here.code, false, domestic);
        d.push_list(prop::BUSINESS_PHONES, Value::String(number));
        return Contact {
            created,
            modified,
            data: d,
        };
    }

    let (given, surname, given_latin, surname_latin) = match here.code {
        "RU" | "JP" => {
            let (gl, sl) = if here.code == "RU" {
                (RU_GIVEN, RU_SURNAMES)
            } else {
                (JP_GIVEN, JP_SURNAMES)
            };
            let (g, ga) = gl[rng.random_range(0..gl.len())];
            let (s, sa) = sl[rng.random_range(0..sl.len())];
            (g, s, ga.to_owned(), sa.to_owned())
        }
        _ => {
            let g = pick(&mut rng, GIVEN_NAMES);
            let s = pick(&mut rng, SURNAMES);
            (g, s, ascii_fold(g), ascii_fold(s))
        }
    };
    let personal = rng.random_bool(0.15);
    let company = (!personal).then(|| pick(&mut rng, here.companies));
    d.set_text(prop::GIVEN_NAME, given);
    d.set_text(prop::SURNAME, surname);
    let family_first = here.code == "JP" && !given.is_ascii();
    let display = match rng.random_range(0..100) {
        _ if family_first => format!("{surname} {given}"),
        0..10 => format!("{surname}, {given}"),
        10..15 if company.is_some() => {
            format!("{given} {surname} ({})", company.unwrap_or_default())
        }
        15..17 => given.to_lowercase(),
        _ => format!("{given} {surname}"),
    };
    d.set_text(prop::DISPLAY_NAME, display.clone());
    match rng.random_range(0..10) {
        0..5 => d.set_text(prop::FILE_AS, format!("{surname}, {given}")),
        5..7 => d.set_text(prop::FILE_AS, display.clone()),
        _ => {}
    }
    if rng.random_bool(0.05) {
        d.set_text(prop::TITLE, pick(&mut rng, TITLES));
    }
    if rng.random_bool(0.05) {
        d.set_text(prop::MIDDLE_NAME, pick(&mut rng, GIVEN_NAMES));
    }
    if rng.random_bool(0.03) {
        d.set_text(prop::NICK_NAME, given.chars().take(3).collect::<String>());
    }
    if rng.random_bool(0.01) {
        d.set_text(prop::GENERATION, pick(&mut rng, &["Jr.", "Sr.", "III"]));
    }
    if let Some(c) = company {
        d.set_text(prop::COMPANY_NAME, c);
        if rng.random_bool(0.5) {
            d.set_text(prop::JOB_TITLE, pick(&mut rng, JOB_TITLES));
        }
        if rng.random_bool(0.1) {
            d.set_text(prop::DEPARTMENT, pick(&mut rng, DEPARTMENTS));
        }
        if rng.random_bool(0.03) {
            d.set_text(
                prop::OFFICE_LOCATION,
                format!("Room {}", digits(&mut rng, 3)),
            );
        }
        if rng.random_bool(0.02) {
            d.set_text(prop::ASSISTANT_NAME, pick(&mut rng, GIVEN_NAMES));
        }
    }

    // E-mail: none, one, or up to three (work and private).
    let local = match rng.random_range(0..4) {
        0 => format!("{given_latin}.{surname_latin}"),
        1 => format!(
            "{}.{surname_latin}",
            given_latin.chars().next().unwrap_or('x')
        ),
        2 => format!("{given_latin}{surname_latin}"),
        _ => surname_latin.clone(),
    };
    let local = if local.trim_matches('.').is_empty() {
        format!("contact{num}")
    } else {
        local
    };
    let mut addresses = Vec::new();
    if rng.random_bool(0.8) {
        let domain = match company {
            Some(c) => company_domain(c, here.tld, num),
            None => pick(&mut rng, here.personal_domains).to_owned(),
        };
        addresses.push(format!("{local}@{domain}"));
        if rng.random_bool(0.15) {
            let private = pick(&mut rng, here.personal_domains);
            addresses.push(format!("{given_latin}{}@{private}", digits(&mut rng, 2)));
        }
        if rng.random_bool(0.03) {
            addresses.push(format!("{}@{}", local.to_uppercase(), "example.com"));
        }
    }
    for a in addresses {
        // Outlook names an address after the contact, or repeats the address.
        let name = if rng.random_bool(0.8) {
            display.clone()
        } else {
            a.clone()
        };
        d.push_list(prop::EMAIL_ADDRESSES, email(name, a));
    }

    // Phones.
    if company.is_some() || rng.random_bool(0.3) {
        let n = match rng.random_range(0..10) {
            0..3 => 0,
            3..9 => 1,
            _ => 2,
        };
        for _ in 0..n {
            let number = any_phone(&mut rng, here.code, false, domestic);
            d.push_list(prop::BUSINESS_PHONES, Value::String(number));
        }
    }
    if rng.random_bool(0.6) {
        let number = any_phone(&mut rng, here.code, true, domestic);
        d.set_text(prop::MOBILE_PHONE, number);
    }
    if rng.random_bool(if personal { 0.5 } else { 0.1 }) {
        let number = any_phone(&mut rng, here.code, false, domestic);
        d.push_list(prop::HOME_PHONES, Value::String(number));
    }

    if company.is_some() && rng.random_bool(0.2) {
        let (city, state, postal, street) = here.cities[rng.random_range(0..here.cities.len())];
        let number = rng.random_range(1..300);
        let street = if here.number_first {
            format!("{number} {street}")
        } else {
            format!("{street} {number}")
        };
        let mut a = json!({
            "street": street,
            "city": city,
            "countryOrRegion": here.country,
            "postalCode": postal,
        });
        if let (Some(s), Some(obj)) = (state, a.as_object_mut()) {
            obj.insert("state".to_owned(), Value::String(s.to_owned()));
        }
        d.set(prop::BUSINESS_ADDRESS, a);
    }
    if let Some(c) = company
        && rng.random_bool(0.05)
    {
        d.set_text(
            prop::BUSINESS_HOME_PAGE,
            format!("https://www.{}", company_domain(c, here.tld, num)),
        );
    }
    if rng.random_bool(0.05) {
        let year = rng.random_range(1950..2002);
        let month = rng.random_range(1..=12);
        let day = rng.random_range(1..=28);
        // Outlook keeps birthdays at 11:59 UTC [obs].
        d.set_text(
            prop::BIRTHDAY,
            format!("{year}-{month:02}-{day:02}T11:59:00Z"),
        );
    }
    if rng.random_bool(0.05) {
        d.set_text(prop::PERSONAL_NOTES, pick(&mut rng, NOTES));
    }
    if rng.random_bool(0.1) {
        d.push_list(
            prop::CATEGORIES,
            Value::String(pick(&mut rng, CATEGORIES).to_owned()),
        );
    }
    if rng.random_bool(0.02) {
        d.push_list(
            prop::IM_ADDRESSES,
            Value::String(format!("sip:{local}@{}", here.tld)),
        );
    }
    Contact {
        created,
        modified,
        data: d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_span_the_documented_ranges() {
        let mut counts = Vec::new();
        let mut folder_counts = [0usize; 5];
        let mut nested = 0;
        let mut without = 0;
        for idx in 0..2000 {
            let l = layout(7, idx, "US");
            assert!(l.contacts.len() <= MAX_CONTACTS as usize);
            assert!((1..=4).contains(&l.folders.len()), "{l:?}");
            assert_eq!(l.folders[0].0, DEFAULT_FOLDER_NAME);
            assert!(
                l.contacts.iter().all(|f| (*f as usize) < l.folders.len()),
                "{l:?}"
            );
            folder_counts[l.folders.len()] += 1;
            nested += l
                .folders
                .iter()
                .filter(|(_, p)| *p > 0 && *p != u32::MAX)
                .count();
            counts.push(l.contacts.len());
            if !has_mailbox(7, idx, false) {
                without += 1;
            }
        }
        assert!(counts.contains(&0) || counts.iter().min() < Some(&3));
        assert!(counts.iter().max() > Some(&195));
        let mean = counts.iter().sum::<usize>() / counts.len();
        assert!((90..=110).contains(&mean), "mean {mean}");
        assert!(
            folder_counts[1..].iter().all(|n| *n > 300),
            "{folder_counts:?}"
        );
        assert!(nested > 100, "some folders are nested: {nested}");
        assert!((20..=70).contains(&without), "{without} of 2000 members");
        assert!(!has_mailbox(7, 1, true), "guests have no mailbox");
        assert_eq!(layout(7, 5, "US"), layout(7, 5, "US"));
        assert_ne!(layout(7, 5, "US"), layout(8, 5, "US"));
    }

    #[test]
    fn contacts_are_deterministic_and_varied() {
        assert_eq!(contact(7, 3, 4, "GB"), contact(7, 3, 4, "GB"));
        assert_ne!(contact(7, 3, 4, "GB"), contact(7, 3, 5, "GB"));
        let mut phones = Vec::new();
        let mut emails = 0;
        for num in 0..3000 {
            let c = contact(1, num % 17, num, ["GB", "DE", "FR", "US"][num as usize % 4]);
            assert!(c.modified >= c.created);
            assert!(
                c.data
                    .text(prop::DISPLAY_NAME)
                    .is_some_and(|s| !s.is_empty())
            );
            for p in [prop::BUSINESS_PHONES, prop::HOME_PHONES] {
                for v in c.data.get(p).as_array().into_iter().flatten() {
                    phones.push(v.as_str().unwrap_or_default().to_owned());
                }
            }
            if let Some(m) = c.data.text(prop::MOBILE_PHONE) {
                phones.push(m.to_owned());
            }
            emails += c.data.email_addresses().count();
        }
        let has = |pred: &dyn Fn(&str) -> bool| phones.iter().any(|p| pred(p));
        assert!(has(&|p| p.starts_with("020 7946 0")), "GB national");
        assert!(has(&|p| p.starts_with("+44 20 7946 0")), "GB international");
        assert!(has(&|p| p.starts_with("(212) 555-01")), "US national");
        assert!(has(&|p| p.starts_with("+1-212-555-01")), "US international");
        assert!(has(&|p| p.starts_with("0049 ")), "00 prefix");
        assert!(
            has(&|p| p.starts_with("01 ") && p.len() == 14),
            "FR national"
        );
        assert!(has(&|p| p.starts_with("+7 ")), "Russian");
        assert!(
            has(&|p| p.contains("ext. ") || p.contains(" x")),
            "extensions"
        );
        assert!(has(&|p| GARBAGE.contains(&p)), "garbage");
        assert!(emails > 2000, "{emails}");
    }
}
